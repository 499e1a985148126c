//! Fuzzing of the request conversions (issue 12, §3): any bytes that prost decodes as a request are
//! converted or refused with a named field and a message, at any broker time; they never panic.
//!
//! [`request_conversions`] is the one check, run by the `request_conversions` cargo-fuzz target
//! (through `crate::fuzzing`), by the corpus replay test and by the proptest below. It calls the
//! same checks the handlers call, on the bytes decoded as each request type.

use prost::Message;
use stalk_proto::v1 as pb;
use tonic::Code;

use super::convert::{self, FieldError, MAX_DELAY_MS};
use super::{admin, schedules};
use crate::config::SessionGrace;
use crate::engine::schedule::Recurrence;
use crate::engine::{NackAction, TaskId, When};

/// The broker times every input is converted at: the epoch, a present-day time, and the end of
/// time, where "at most a year from now" saturates.
const BROKER_TIMES: [u64; 3] = [0, 1_700_000_000_000, u64::MAX];

/// The payload limit the conversions run with: small, so inputs can reach it.
const MAX_PAYLOAD: usize = 1024;

/// Converts `bytes` as every request type at each of [`BROKER_TIMES`].
///
/// # Panics
/// See [`request_conversions_at`].
pub(crate) fn request_conversions(bytes: &[u8]) {
    for now_ms in BROKER_TIMES {
        request_conversions_at(bytes, now_ms);
    }
}

/// Converts `bytes` as every request type whose checks are pure, with the broker's clock at
/// `now_ms`.
///
/// # Panics
/// When a conversion panics, refuses without naming a field and what is wrong, or accepts a time
/// more than [`MAX_DELAY_MS`] after `now_ms`, or a schedule whose next slot is not after `now_ms`.
pub(crate) fn request_conversions_at(bytes: &[u8], now_ms: u64) {
    enqueue(bytes, now_ms);
    if let Ok(req) = pb::LeaseRequest::decode(bytes) {
        explained(convert::lease_request(&req));
    }
    if let Ok(req) = pb::AckRequest::decode(bytes) {
        explained(convert::ack_item(req, MAX_PAYLOAD, now_ms));
    }
    let requeue = pb::Requeue::decode(bytes)
        .ok()
        .map(pb::nack_request::Action::Requeue);
    let nack = pb::NackRequest::decode(bytes)
        .ok()
        .and_then(|req| req.action);
    for action in [requeue, nack].into_iter().flatten() {
        match convert::nack_action("", Some(action), now_ms) {
            Ok(NackAction::Requeue { at }) => bounded(Some(at), now_ms),
            other => explained(other),
        }
    }
    if let Ok(req) = pb::RevokeRequest::decode(bytes) {
        explained(convert::revoke_request(req));
    }
    if let Ok(pb::PutScheduleRequest {
        schedule: Some(spec),
    }) = pb::PutScheduleRequest::decode(bytes)
    {
        match schedules::schedule(spec, MAX_PAYLOAD) {
            Ok(schedule) => fires_after(&schedule.recurrence, now_ms),
            refused => explained(refused),
        }
    }
    if let Ok(req) = pb::SetLimitRequest::decode(bytes) {
        explained(admin::limit_of(req));
    }
    if let Ok(req) = pb::ListTasksRequest::decode(bytes) {
        if let Err(status) = admin::list_query(&req) {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(!status.message().is_empty(), "{status:?}");
        }
    }
    if let Ok(pb::WorkerMessage {
        kind: Some(pb::worker_message::Kind::Hello(hello)),
    }) = pb::WorkerMessage::decode(bytes)
    {
        explained(convert::session_options(
            &hello,
            SessionGrace::UntilDeadline,
        ));
    }
}

/// The bytes as a whole Enqueue, and as fields over a valid task (prost merges them), so most
/// specs get past the name check to the times and options behind it.
fn enqueue(bytes: &[u8], now_ms: u64) {
    let valid = pb::TaskSpec {
        name: "fuzz".into(),
        ..pb::TaskSpec::default()
    };
    let mut over_valid = Vec::new();
    prost::encoding::bytes::encode(
        1,
        &[valid.encode_to_vec().as_slice(), bytes].concat(),
        &mut over_valid,
    );
    for request in [bytes, &over_valid] {
        let Ok(req) = pb::EnqueueRequest::decode(request) else {
            continue;
        };
        for (i, spec) in req.tasks.into_iter().enumerate() {
            match convert::new_task(i, spec, MAX_PAYLOAD, now_ms, || TaskId::new("generated")) {
                Ok(task) => {
                    bounded(task.eta, now_ms);
                    bounded(task.expires, now_ms);
                }
                refused => explained(refused),
            }
        }
    }
}

/// A refusal names a field and says what is wrong.
fn explained<T>(converted: Result<T, FieldError>) {
    if let Err(err) = converted {
        assert!(!err.field.is_empty(), "{err:?}");
        assert!(!err.message.is_empty(), "{err:?}");
    }
}

/// An accepted time is at most [`MAX_DELAY_MS`] after the broker's time, however it was said.
fn bounded(when: Option<When>, now_ms: u64) {
    let latest = now_ms.saturating_add(MAX_DELAY_MS);
    if let Some(when) = when {
        assert!(when.resolve(now_ms) <= latest, "{when:?} is past {latest}");
    }
}

/// An accepted schedule's next slot, which the engine computes when it is put, is in the future.
fn fires_after(recurrence: &Recurrence, now_ms: u64) {
    if let Some(next) = recurrence.next_after(now_ms) {
        assert!(
            next > now_ms,
            "{recurrence:?} fires at {next}, not after {now_ms}"
        );
    }
}

/// The committed corpus of the `request_conversions` target (see `crate::fuzzing`): one valid
/// request of each type, and the seed that caught unbounded absolute times.
#[cfg(test)]
pub(crate) mod seeds {
    use prost::Message;
    use stalk_proto::v1 as pb;

    /// The seeds by file name.
    pub(crate) fn all() -> Vec<(&'static str, Vec<u8>)> {
        let ack = |outcome| pb::AckRequest {
            add: Vec::new(),
            task_id: "019a-task".into(),
            lease_id: 42,
            outcome: Some(outcome),
        };
        let nack = |action| pb::NackRequest {
            task_id: "019a-task".into(),
            lease_id: 42,
            action: Some(action),
        };
        let put = |when| pb::PutScheduleRequest {
            schedule: Some(pb::ScheduleSpec {
                name: "nightly".into(),
                when: Some(when),
                task: Some(pb::TaskSpec {
                    name: "report.build".into(),
                    queue: "reports".into(),
                    ..pb::TaskSpec::default()
                }),
                misfire: pb::Misfire::RunOnce.into(),
                misfire_grace_ms: 60_000,
                overlap: pb::Overlap::Skip.into(),
                paused: false,
            }),
        };
        let list = |state: pb::TaskState, page_token: &str| pb::ListTasksRequest {
            queue: "mail".into(),
            state: state.into(),
            page_size: 50,
            page_token: page_token.into(),
        };
        vec![
            ("enqueue-full-task", enqueue(full_task())),
            (
                "enqueue-eta",
                enqueue(pb::TaskSpec {
                    eta_unix_ms: 1_700_000_060_000,
                    expires_at_unix_ms: 1_700_086_400_000,
                    ..minimal_task()
                }),
            ),
            (
                "lease",
                pb::LeaseRequest {
                    queues: vec!["mail".into(), "default".into()],
                    max_tasks: 10,
                    wait_ms: 5_000,
                    lease_duration_ms: 30_000,
                    worker_id: "worker-1".into(),
                }
                .encode_to_vec(),
            ),
            (
                "ack-success",
                ack(pb::ack_request::Outcome::Success(pb::TaskResult {
                    value: b"{\"sent\": true}".to_vec().into(),
                    content_type: "application/json".into(),
                }))
                .encode_to_vec(),
            ),
            (
                "ack-failure",
                ack(pb::ack_request::Outcome::Failure(pb::Failure {
                    error: Some(pb::Error {
                        kind: "Timeout".into(),
                        message: "smtp did not answer".into(),
                    }),
                    fatal: false,
                    retry_in_ms: 60_000,
                    lost: false,
                    retry_at_unix_ms: 0,
                }))
                .encode_to_vec(),
            ),
            (
                "nack-requeue",
                nack(pb::nack_request::Action::Requeue(pb::Requeue {
                    delay_ms: 5_000,
                    at_unix_ms: 0,
                }))
                .encode_to_vec(),
            ),
            (
                "nack-reject",
                nack(pb::nack_request::Action::Reject(pb::Reject {
                    reason: "bad payload".into(),
                }))
                .encode_to_vec(),
            ),
            (
                "revoke",
                pb::RevokeRequest {
                    task_ids: vec!["019a-task".into()],
                    headers: vec![pb::HeaderValue {
                        name: "tenant".into(),
                        value: "acme".into(),
                    }],
                    remember_ms: 3_600_000,
                }
                .encode_to_vec(),
            ),
            (
                "put-schedule-every",
                put(pb::schedule_spec::When::Every(pb::Every {
                    every_ms: 60_000,
                }))
                .encode_to_vec(),
            ),
            (
                "put-schedule-cron",
                put(pb::schedule_spec::When::Cron(pb::Cron {
                    expression: "30 2 * * 1-5".into(),
                    time_zone: "Europe/Berlin".into(),
                }))
                .encode_to_vec(),
            ),
            (
                "put-schedule-once",
                put(pb::schedule_spec::When::Once(pb::Once {
                    at_unix_ms: 1_700_000_060_000,
                }))
                .encode_to_vec(),
            ),
            (
                "set-limit-rate",
                pb::SetLimitRequest {
                    scope: "queue:mail".into(),
                    per_header: String::new(),
                    rate: "10/s".into(),
                    burst: 20,
                    max_concurrency: 0,
                }
                .encode_to_vec(),
            ),
            (
                "set-limit-keyed-concurrency",
                pb::SetLimitRequest {
                    scope: "task:email.send".into(),
                    per_header: "tenant".into(),
                    rate: String::new(),
                    burst: 0,
                    max_concurrency: 4,
                }
                .encode_to_vec(),
            ),
            (
                "list-tasks-after",
                list(pb::TaskState::Scheduled, "1700000060000.7").encode_to_vec(),
            ),
            (
                "list-tasks-ready",
                list(pb::TaskState::Ready, "r.1700000000000.1.2.3.4.5.6.7.8.9.10").encode_to_vec(),
            ),
            (
                "worker-hello",
                pb::WorkerMessage {
                    kind: Some(pb::worker_message::Kind::Hello(pb::Hello {
                        worker_id: "worker-1".into(),
                        hostname: "host-a".into(),
                        pid: 4242,
                        queues: vec!["mail".into()],
                        task_names: vec!["email.send".into()],
                        sdk_version: "0.1.0".into(),
                        lease_duration_ms: 30_000,
                        prefetch_lease_ms: 60_000,
                    })),
                }
                .encode_to_vec(),
            ),
            // A Requeue at i64::MAX, which was accepted at broker time 0 (proptest's shrunk case,
            // in `proptest-regressions/service/fuzz.txt`).
            (
                "regression-requeue-at-i64-max",
                vec![16, 255, 255, 255, 255, 255, 255, 255, 255, 127],
            ),
        ]
    }

    fn enqueue(task: pb::TaskSpec) -> Vec<u8> {
        pb::EnqueueRequest {
            tasks: vec![task],
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn minimal_task() -> pb::TaskSpec {
        pb::TaskSpec {
            name: "email.send".into(),
            ..pb::TaskSpec::default()
        }
    }

    fn full_task() -> pb::TaskSpec {
        pb::TaskSpec {
            queue: "mail".into(),
            payload: b"{\"to\": \"ada@example.com\"}".to_vec().into(),
            content_type: "application/json".into(),
            headers: [("tenant".to_string(), "acme".to_string())].into(),
            priority: 5,
            task_id: "welcome-ada".into(),
            unique_key: "welcome:ada".into(),
            max_retries: 5,
            retry_backoff_ms: 1_000,
            retry_backoff_max_ms: 60_000,
            lease_duration_ms: 30_000,
            expires_in_ms: 86_400_000,
            countdown_ms: 10_000,
            soft_time_limit_ms: 10_000,
            time_limit_ms: 30_000,
            max_lost_attempts: 3,
            ..minimal_task()
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_input;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn any_request_bytes_convert_or_are_refused_with_the_field_named(
            bytes in fuzz_input::protobufish(),
            now_ms in prop_oneof![Just(1_700_000_000_000u64), Just(u64::MAX), any::<u64>()],
        ) {
            request_conversions_at(&bytes, now_ms);
        }
    }

    #[test]
    fn every_seed_but_the_regression_is_accepted_by_its_own_conversion() {
        let now_ms = 1_700_000_000_000;
        for (name, bytes) in seeds::all() {
            let bytes = bytes.as_slice();
            let accepted = match name.split('-').next() {
                Some("enqueue") => pb::EnqueueRequest::decode(bytes).is_ok_and(|req| {
                    req.tasks.into_iter().enumerate().all(|(i, spec)| {
                        convert::new_task(i, spec, MAX_PAYLOAD, now_ms, || TaskId::new("t")).is_ok()
                    })
                }),
                Some("lease") => pb::LeaseRequest::decode(bytes)
                    .is_ok_and(|req| convert::lease_request(&req).is_ok()),
                Some("ack") => pb::AckRequest::decode(bytes)
                    .is_ok_and(|req| convert::ack_item(req, MAX_PAYLOAD, now_ms).is_ok()),
                Some("nack") => pb::NackRequest::decode(bytes)
                    .is_ok_and(|req| convert::nack_action("", req.action, now_ms).is_ok()),
                Some("revoke") => pb::RevokeRequest::decode(bytes)
                    .is_ok_and(|req| convert::revoke_request(req).is_ok()),
                Some("put") => pb::PutScheduleRequest::decode(bytes).is_ok_and(|req| {
                    schedules::schedule(req.schedule.unwrap_or_default(), MAX_PAYLOAD).is_ok()
                }),
                Some("set") => {
                    pb::SetLimitRequest::decode(bytes).is_ok_and(|req| admin::limit_of(req).is_ok())
                }
                Some("list") => pb::ListTasksRequest::decode(bytes)
                    .is_ok_and(|req| admin::list_query(&req).is_ok()),
                Some("worker") => pb::WorkerMessage::decode(bytes).is_ok_and(|msg| {
                    matches!(msg.kind, Some(pb::worker_message::Kind::Hello(hello))
                        if convert::session_options(&hello, SessionGrace::UntilDeadline).is_ok())
                }),
                _ => false,
            };
            assert_eq!(
                accepted,
                name != "regression-requeue-at-i64-max",
                "seed {name}"
            );
        }
    }
}
