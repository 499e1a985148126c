//! Fuzzing of the record decoders (issue 12, §3): whatever bytes a data dir holds, decoding answers
//! a record or a `Corrupt` / `UnknownRecordVersion` error naming the key; it never panics.
//!
//! [`record_decoders`] is the one check, run by the `record_decoders` cargo-fuzz target (through
//! `crate::fuzzing`), by the corpus replay test and by the proptest below. [`seeds`] are the
//! committed corpus: one valid entry of each record kind, and the ways a record is refused.
#![warn(clippy::indexing_slicing)]

use bytes::Bytes;

use super::keys::{decode_task_key, task_key, BODY, SCHEDULE, STATE};
use super::limit_records::decode_limit;
use super::records::{decode_body, decode_state};
use super::revocation_records::decode_revocation;
use super::schedule_records::decode_schedule;
use super::StoreError;

/// Runs every record decoder on the sled entry `input` frames (see [`entry`]).
///
/// # Panics
/// When a decoder panics, refuses the entry with an error that is not `Corrupt` or
/// `UnknownRecordVersion`, or names another key; or when a task key decodes to a number whose key
/// is not the one decoded.
pub(crate) fn record_decoders(input: &[u8]) {
    let (key, value) = entry(input);
    let refusals = [
        decode_state(key, value).err(),
        decode_body(key, Bytes::copy_from_slice(value)).err(),
        decode_schedule(key, value).err(),
        decode_limit(key, value).err(),
        decode_revocation(key, value).err(),
    ];
    for err in refusals.iter().flatten() {
        assert!(refused_as_bad_data(err, key), "{err:?} for key {key:?}");
    }
    for kind in [STATE, BODY, SCHEDULE] {
        if let Some(number) = decode_task_key(kind, key) {
            assert_eq!(
                task_key(kind, number),
                key,
                "task key {number} of kind {kind}"
            );
        }
    }
}

/// A fuzz input as a sled entry: the first byte is the key's length, the key follows, and the
/// rest is the value. Bytes too short for the key they announce are all key, so every input is
/// some entry.
fn entry(input: &[u8]) -> (&[u8], &[u8]) {
    let Some((&len, rest)) = input.split_first() else {
        return (&[], &[]);
    };
    rest.split_at_checked(usize::from(len))
        .unwrap_or((rest, &[]))
}

/// A decoder's refusal must say the data is bad and which key holds it.
fn refused_as_bad_data(err: &StoreError, at: &[u8]) -> bool {
    match err {
        StoreError::Corrupt { key, .. } | StoreError::UnknownRecordVersion { key, .. } => key == at,
        _ => false,
    }
}

/// The committed corpus of the `record_decoders` target (see `crate::fuzzing`).
#[cfg(test)]
pub(crate) mod seeds {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bytes::Bytes;

    use crate::engine::limits::{Limit, LimitKey, LimitScope, RateLimit};
    use crate::engine::schedule::{Misfire, Overlap, Recurrence, Schedule};
    use crate::engine::{
        NewTask, RevokeRule, TaskBody, TaskCold, TaskError, TaskId, TaskMeta, TaskOptions,
        TaskResult, TaskState, When,
    };
    use crate::store::keys::{task_key, BODY, SCHEDULE, STATE};
    use crate::store::limit_records::{encode_limit, limit_key};
    use crate::store::records::{encode_body, encode_state, V1};
    use crate::store::revocation_records::{encode_revocation, revocation_key};
    use crate::store::schedule_records::encode_schedule;

    /// The fuzz input of a sled entry; [`super::entry`] reads it back.
    pub(crate) fn framed(key: &[u8], value: &[u8]) -> Vec<u8> {
        let len = u8::try_from(key.len()).expect("invariant: seed keys are under 256 bytes");
        [&[len], key, value].concat()
    }

    /// The seeds by file name: each record kind as this broker writes it, and a record of an
    /// unknown version, an empty one and a cut one.
    pub(crate) fn all() -> Vec<(&'static str, Vec<u8>)> {
        let state_key = task_key(STATE, 7);
        let state = encode_state(&leased_task(), None);
        let mut future = state.clone();
        if let Some(version) = future.first_mut() {
            *version = V1 + 1;
        }
        let cut = state.get(..state.len() / 2).unwrap_or_default();
        let rate = Limit {
            rate: Some(RateLimit {
                count: 10,
                per_ms: 1_000,
                burst: 20,
            }),
            concurrency: None,
        };
        let queue_limit = LimitKey {
            scope: LimitScope::Queue("mail".into()),
            per: None,
        };
        let keyed_limit = LimitKey {
            scope: LimitScope::Task("email.send".into()),
            per: Some("tenant".into()),
        };
        let concurrency = Limit {
            rate: None,
            concurrency: Some(4),
        };
        let by_id = RevokeRule::Id("019a-task".into());
        let by_header = RevokeRule::Header("tenant".into(), "acme".into());
        vec![
            ("state-leased", framed(&state_key, &state)),
            (
                "state-succeeded-with-result",
                framed(&state_key, &encode_state(&finished_task(), Some(result()))),
            ),
            ("body", framed(&task_key(BODY, 7), &encode_body(body()))),
            (
                "schedule-every",
                framed(&task_key(SCHEDULE, 1), &encode_schedule(&every_minute())),
            ),
            (
                "schedule-cron",
                framed(
                    &task_key(SCHEDULE, 2),
                    &encode_schedule(&nightly_in_berlin()),
                ),
            ),
            (
                "limit-rate",
                framed(&limit_key(&queue_limit), &encode_limit(&queue_limit, &rate)),
            ),
            (
                "limit-keyed-concurrency",
                framed(
                    &limit_key(&keyed_limit),
                    &encode_limit(&keyed_limit, &concurrency),
                ),
            ),
            (
                "revocation-id",
                framed(
                    &revocation_key(&by_id),
                    &encode_revocation(1_700_000_000_000),
                ),
            ),
            (
                "revocation-header",
                framed(
                    &revocation_key(&by_header),
                    &encode_revocation(1_700_000_000_000),
                ),
            ),
            ("state-unknown-version", framed(&state_key, &future)),
            ("state-empty", framed(&state_key, &[])),
            ("state-cut", framed(&state_key, cut)),
        ]
    }

    fn leased_task() -> TaskMeta {
        TaskMeta {
            key: 7,
            id: TaskId::new("019a-task"),
            name: Arc::from("email.send"),
            queue: Arc::from("mail"),
            ready_seq: 7,
            due_ms: 1_700_000_030_000,
            enqueued_ms: 1_700_000_000_000,
            options: TaskOptions::default(),
            attempts: 1,
            payload_size: 24,
            priority: 5,
            state: TaskState::Leased,
            cold: Some(Box::new(TaskCold {
                lease_id: 42,
                last_lease_id: 42,
                started_ms: 1_700_000_000_500,
                headers: vec![(Arc::from("tenant"), Arc::from("acme"))],
                ..TaskCold::default()
            })),
        }
    }

    fn finished_task() -> TaskMeta {
        TaskMeta {
            state: TaskState::Succeeded,
            attempts: 2,
            cold: Some(Box::new(TaskCold {
                retries_used: 1,
                expires_at_ms: Some(1_700_086_400_000),
                unique_key: Some(Arc::from("welcome:ada")),
                last_lease_id: 43,
                started_ms: 1_700_000_001_000,
                finished_ms: 1_700_000_002_000,
                purge_at_ms: 1_700_086_402_000,
                error: Some(TaskError {
                    kind: "Timeout".into(),
                    message: "smtp did not answer".into(),
                }),
                ..TaskCold::default()
            })),
            ..leased_task()
        }
    }

    fn result() -> TaskResult {
        TaskResult {
            value: Bytes::from_static(b"{\"sent\": true}"),
            content_type: "application/json".into(),
        }
    }

    fn body() -> TaskBody {
        TaskBody {
            payload: Bytes::from_static(b"{\"to\": \"ada@example.com\"}"),
            content_type: "application/json".into(),
            headers: BTreeMap::new(),
            soft_time_limit_ms: 10_000,
            time_limit_ms: 30_000,
            input: None,
        }
    }

    fn every_minute() -> Schedule {
        Schedule {
            key: 1,
            name: "digest".into(),
            recurrence: Recurrence::Every {
                every_ms: 60_000,
                anchor_ms: 1_700_000_000_000,
            },
            template: NewTask {
                id: TaskId::new(""),
                name: "digest.build".into(),
                queue: "reports".into(),
                priority: 3,
                unique_key: None,
                options: TaskOptions::default(),
                expires: Some(When::In(300_000)),
                eta: None,
                body: body(),
                flow: None,
            },
            misfire: Misfire::RunOnce,
            grace_ms: 60_000,
            overlap: Overlap::Skip,
            paused: false,
            next_fire_ms: 1_700_000_060_000,
            last_fire_ms: 1_700_000_000_000,
            last_task_id: "digest@1700000000000".into(),
        }
    }

    fn nightly_in_berlin() -> Schedule {
        Schedule {
            key: 2,
            name: "nightly".into(),
            recurrence: Recurrence::Cron {
                expr: "30 2 * * *".into(),
                zone: "Europe/Berlin".into(),
            },
            misfire: Misfire::RunAll,
            overlap: Overlap::BufferOne,
            paused: true,
            ..every_minute()
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::seeds::framed;
    use super::*;
    use crate::fuzz_input;
    use crate::store::keys::{LIMIT, REVOCATION};
    use crate::store::records::V1;

    /// Keys of every kind, well formed or not, and random ones.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        let kind = prop_oneof![
            Just(STATE),
            Just(BODY),
            Just(SCHEDULE),
            Just(LIMIT),
            Just(REVOCATION),
            any::<u8>()
        ];
        (kind, prop::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(kind, rest)| [vec![kind], rest].concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn any_record_bytes_decode_or_are_refused_as_corrupt(
            key in key(),
            value in fuzz_input::record(V1),
        ) {
            record_decoders(&framed(&key, &value));
        }
    }

    #[test]
    fn every_seed_but_the_refused_ones_decodes() {
        for (name, input) in seeds::all() {
            let (key, value) = entry(&input);
            let decoded = match key.first() {
                Some(&STATE) => decode_state(key, value).is_ok(),
                Some(&BODY) => decode_body(key, Bytes::copy_from_slice(value)).is_ok(),
                Some(&SCHEDULE) => decode_schedule(key, value).is_ok(),
                Some(&LIMIT) => decode_limit(key, value).is_ok(),
                Some(&REVOCATION) => decode_revocation(key, value).is_ok(),
                _ => false,
            };
            let refused = ["state-unknown-version", "state-empty", "state-cut"].contains(&name);
            assert_eq!(decoded, !refused, "seed {name}");
        }
    }
}
