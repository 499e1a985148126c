//! Checks and conversions between the wire types and the engine's. Every refusal names the
//! field, says what was wrong and what is allowed.

use std::collections::BTreeMap;

use stalk_proto::v1 as pb;
use tonic::Code;

use crate::engine::{
    NackAction, NewTask, TaskBody, TaskError, TaskId, TaskMeta, TaskOptions, TaskState, When,
    DEFAULT_LEASE_MS, DEFAULT_MAX_LOST_ATTEMPTS, DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF_MAX_MS,
    DEFAULT_RETRY_BACKOFF_MS,
};

/// Longest task or queue name.
pub(crate) const MAX_NAME_LEN: usize = 200;
/// Longest task id.
pub(crate) const MAX_ID_LEN: usize = 128;
/// Most tasks in one Enqueue, ids in one Revoke, tasks in one Lease.
pub(crate) const MAX_BATCH: usize = 1000;
/// Shortest and longest lease.
pub(crate) const LEASE_MS: (u64, u64) = (100, 12 * 3_600_000);
/// Longest long poll.
pub(crate) const MAX_WAIT_MS: u64 = 60_000;
/// Longest delay (countdown, retry, requeue).
pub(crate) const MAX_DELAY_MS: u64 = 366 * 86_400_000;
const MAX_BACKOFF_MS: u64 = 7 * 86_400_000;
const MAX_RETRIES: u32 = 1000;
const MAX_LOST_ATTEMPTS: u32 = 100;
const MAX_HEADERS: usize = 64;
const MAX_HEADER_VALUE: usize = 4096;
const MAX_CONTENT_TYPE: usize = 128;
/// Longest header name.
const MAX_HEADER_NAME: usize = 128;
const MAX_UNIQUE_KEY: usize = 256;
const MAX_ERROR_KIND: usize = 256;
const MAX_MESSAGE: usize = 64 * 1024;
const MAX_QUEUES_PER_LEASE: usize = 32;

/// A refused field: the status code to answer with, the field's path, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) code: Code,
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: Code::InvalidArgument,
            field: field.into(),
            message: message.into(),
        }
    }

    fn too_large(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: Code::ResourceExhausted,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<FieldError> for tonic::Status {
    fn from(err: FieldError) -> Self {
        tonic::Status::new(err.code, format!("{}: {}", err.field, err.message))
    }
}

/// Checks a task or queue name.
pub(crate) fn name(field: &str, value: &str) -> Result<(), FieldError> {
    token(field, value, MAX_NAME_LEN, "._-:/")
}

/// Checks a task id. `@` is allowed: a schedule's tasks are named `SCHEDULE@SLOT_MS`.
pub(crate) fn task_id(field: &str, value: &str) -> Result<(), FieldError> {
    token(field, value, MAX_ID_LEN, "._-:/@")
}

fn token(field: &str, value: &str, max: usize, extra: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(FieldError::invalid(
            field,
            format!("is {} bytes long; at most {max} are allowed", value.len()),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
    {
        return Err(FieldError::invalid(
            field,
            format!("{value:?} contains {bad:?}; use ASCII letters, digits and {extra}"),
        ));
    }
    Ok(())
}

/// Checks the name of a header (as a keyed limit names one).
pub(crate) fn header_name(field: &str, name: &str) -> Result<(), FieldError> {
    at_most(field, name.len(), MAX_HEADER_NAME)
}

fn at_most(field: &str, len: usize, max: usize) -> Result<(), FieldError> {
    if len > max {
        return Err(FieldError::invalid(
            field,
            format!("is {len} bytes long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

fn in_range(field: &str, value: u64, (lo, hi): (u64, u64)) -> Result<(), FieldError> {
    if value < lo || value > hi {
        return Err(FieldError::invalid(
            field,
            format!("{value} is outside {lo}..={hi}"),
        ));
    }
    Ok(())
}

/// Checks a batch size.
pub(crate) fn batch(field: &str, len: usize) -> Result<(), FieldError> {
    if len == 0 {
        return Err(FieldError::invalid(field, "must hold at least one entry"));
    }
    if len > MAX_BATCH {
        return Err(FieldError::invalid(
            field,
            format!("holds {len} entries; at most {MAX_BATCH} are allowed per call"),
        ));
    }
    Ok(())
}

/// A lease duration: 0 means "not given".
pub(crate) fn lease_ms(field: &str, value: u64) -> Result<Option<u64>, FieldError> {
    if value == 0 {
        return Ok(None);
    }
    in_range(field, value, LEASE_MS)?;
    Ok(Some(value))
}

/// A long-poll wait.
pub(crate) fn wait_ms(field: &str, value: u64) -> Result<std::time::Duration, FieldError> {
    in_range(field, value, (0, MAX_WAIT_MS))?;
    Ok(std::time::Duration::from_millis(value))
}

/// A delay (requeue, retry): at most a year.
pub(crate) fn delay_ms(field: &str, value: u64) -> Result<u64, FieldError> {
    in_range(field, value, (0, MAX_DELAY_MS))?;
    Ok(value)
}

fn unix_ms(field: &str, value: i64) -> Result<Option<u64>, FieldError> {
    match value {
        0 => Ok(None),
        v if v < 0 => Err(FieldError::invalid(
            field,
            format!("{v} is before 1970; give ms since the Unix epoch"),
        )),
        v => Ok(u64::try_from(v).ok()),
    }
}

/// A requeue: after a delay or at a time (`field` names the message in errors).
pub(crate) fn requeue(field: &str, requeue: &pb::Requeue) -> Result<NackAction, FieldError> {
    let delay = delay_ms(&format!("{field}.delay_ms"), requeue.delay_ms)?;
    let at = unix_ms(&format!("{field}.at_unix_ms"), requeue.at_unix_ms)?;
    Ok(NackAction::Requeue {
        at: match (at, delay) {
            (Some(_), d) if d > 0 => {
                return Err(FieldError::invalid(
                    format!("{field}.at_unix_ms"),
                    "give delay_ms or at_unix_ms, not both",
                ))
            }
            (Some(at), _) => When::At(at),
            (None, d) => When::In(d),
        },
    })
}

/// When a failed attempt retries, if the worker says: after a delay or at a time.
pub(crate) fn retry_at(failure: &pb::Failure) -> Result<Option<When>, FieldError> {
    let delay = delay_ms("failure.retry_in_ms", failure.retry_in_ms)?;
    let at = unix_ms("failure.retry_at_unix_ms", failure.retry_at_unix_ms)?;
    match (at, delay) {
        (Some(_), d) if d > 0 => Err(FieldError::invalid(
            "failure.retry_at_unix_ms",
            "give retry_in_ms or retry_at_unix_ms, not both",
        )),
        (Some(at), _) => Ok(Some(When::At(at))),
        (None, 0) => Ok(None),
        (None, d) => Ok(Some(When::In(d))),
    }
}

/// Checks and converts one task of an Enqueue. `id` is used when the spec names none.
pub(crate) fn new_task(
    i: usize,
    spec: pb::TaskSpec,
    max_payload: usize,
    generated_id: impl FnOnce() -> TaskId,
) -> Result<NewTask, FieldError> {
    task_at(&format!("tasks[{i}]"), spec, max_payload, generated_id)
}

/// As [`new_task`], for the task spec at `path` (e.g. `schedule.task`) in errors.
pub(crate) fn task_at(
    path: &str,
    spec: pb::TaskSpec,
    max_payload: usize,
    generated_id: impl FnOnce() -> TaskId,
) -> Result<NewTask, FieldError> {
    let f = |name: &str| format!("{path}.{name}");
    name(&f("name"), &spec.name)?;
    let queue = if spec.queue.is_empty() {
        "default".to_string()
    } else {
        name(&f("queue"), &spec.queue)?;
        spec.queue
    };
    if spec.payload.len() > max_payload {
        return Err(FieldError::too_large(
            f("payload"),
            format!(
                "is {} bytes; the broker accepts at most {max_payload} (--max-payload-bytes)",
                spec.payload.len()
            ),
        ));
    }
    at_most(
        &f("content_type"),
        spec.content_type.len(),
        MAX_CONTENT_TYPE,
    )?;
    if spec.headers.len() > MAX_HEADERS {
        return Err(FieldError::invalid(
            f("headers"),
            format!(
                "has {} entries; at most {MAX_HEADERS} are allowed",
                spec.headers.len()
            ),
        ));
    }
    for (key, value) in &spec.headers {
        if key.is_empty() {
            return Err(FieldError::invalid(f("headers"), "a header key is empty"));
        }
        at_most(&f(&format!("headers[{key:?}]")), key.len(), MAX_HEADER_NAME)?;
        at_most(
            &f(&format!("headers[{key:?}]")),
            value.len(),
            MAX_HEADER_VALUE,
        )?;
    }
    let priority = u8::try_from(spec.priority)
        .ok()
        .filter(|p| *p <= 9)
        .ok_or_else(|| {
            FieldError::invalid(f("priority"), format!("{} is outside 0..=9", spec.priority))
        })?;
    let id = if spec.task_id.is_empty() {
        generated_id()
    } else {
        task_id(&f("task_id"), &spec.task_id)?;
        TaskId::new(&spec.task_id)
    };
    let unique_key = if spec.unique_key.is_empty() {
        None
    } else {
        at_most(&f("unique_key"), spec.unique_key.len(), MAX_UNIQUE_KEY)?;
        Some(spec.unique_key)
    };
    if spec.max_retries > MAX_RETRIES {
        return Err(FieldError::invalid(
            f("max_retries"),
            format!("{} is more than {MAX_RETRIES}", spec.max_retries),
        ));
    }
    let max_retries = match (spec.no_retries, spec.max_retries) {
        (true, _) => 0,
        (false, 0) => DEFAULT_MAX_RETRIES,
        (false, n) => n,
    };
    if spec.max_lost_attempts > MAX_LOST_ATTEMPTS {
        return Err(FieldError::invalid(
            f("max_lost_attempts"),
            format!(
                "{} is more than {MAX_LOST_ATTEMPTS}",
                spec.max_lost_attempts
            ),
        ));
    }
    // In range (checked above), so these fit u32.
    let or = |value: u64, default: u32| match value {
        0 => default,
        v => u32::try_from(v).unwrap_or(u32::MAX),
    };
    in_range(
        &f("retry_backoff_ms"),
        spec.retry_backoff_ms,
        (0, MAX_BACKOFF_MS),
    )?;
    in_range(
        &f("retry_backoff_max_ms"),
        spec.retry_backoff_max_ms,
        (0, MAX_BACKOFF_MS),
    )?;
    let lease = lease_ms(&f("lease_duration_ms"), spec.lease_duration_ms)?;
    in_range(
        &f("soft_time_limit_ms"),
        spec.soft_time_limit_ms,
        (0, MAX_BACKOFF_MS),
    )?;
    in_range(&f("time_limit_ms"), spec.time_limit_ms, (0, MAX_BACKOFF_MS))?;
    let expires_at = unix_ms(&f("expires_at_unix_ms"), spec.expires_at_unix_ms)?;
    let expires = match (expires_at, spec.expires_in_ms) {
        (Some(_), n) if n > 0 => {
            return Err(FieldError::invalid(
                f("expires_in_ms"),
                "give expires_at_unix_ms or expires_in_ms, not both",
            ))
        }
        (Some(at), _) => Some(When::At(at)),
        (None, 0) => None,
        (None, n) => Some(When::In(delay_ms(&f("expires_in_ms"), n)?)),
    };
    let eta_at = unix_ms(&f("eta_unix_ms"), spec.eta_unix_ms)?;
    let eta = match (eta_at, spec.countdown_ms) {
        (Some(_), n) if n > 0 => {
            return Err(FieldError::invalid(
                f("countdown_ms"),
                "give eta_unix_ms or countdown_ms, not both",
            ))
        }
        (Some(at), _) => Some(When::At(at)),
        (None, 0) => None,
        (None, n) => Some(When::In(delay_ms(&f("countdown_ms"), n)?)),
    };
    Ok(NewTask {
        id,
        name: spec.name,
        queue,
        priority,
        unique_key,
        options: TaskOptions {
            max_retries,
            retry_backoff_ms: or(spec.retry_backoff_ms, DEFAULT_RETRY_BACKOFF_MS),
            retry_backoff_max_ms: or(spec.retry_backoff_max_ms, DEFAULT_RETRY_BACKOFF_MAX_MS),
            lease_ms: lease.map_or(DEFAULT_LEASE_MS, |ms| u32::try_from(ms).unwrap_or(u32::MAX)),
            max_lost_attempts: match spec.max_lost_attempts {
                0 => DEFAULT_MAX_LOST_ATTEMPTS,
                n => n,
            },
        },
        expires,
        eta,
        body: TaskBody {
            payload: spec.payload,
            content_type: spec.content_type,
            headers: spec.headers.into_iter().collect::<BTreeMap<_, _>>(),
            soft_time_limit_ms: spec.soft_time_limit_ms,
            time_limit_ms: spec.time_limit_ms,
        },
    })
}

/// Checks the queues of a Lease.
pub(crate) fn lease_queues(queues: &[String]) -> Result<(), FieldError> {
    if queues.is_empty() {
        return Err(FieldError::invalid("queues", "name at least one queue"));
    }
    if queues.len() > MAX_QUEUES_PER_LEASE {
        return Err(FieldError::invalid(
            "queues",
            format!(
                "names {} queues; at most {MAX_QUEUES_PER_LEASE}",
                queues.len()
            ),
        ));
    }
    for (i, queue) in queues.iter().enumerate() {
        name(&format!("queues[{i}]"), queue)?;
    }
    Ok(())
}

/// Checks a worker-reported failure.
pub(crate) fn failure(error: Option<pb::Error>) -> Result<TaskError, FieldError> {
    let error = error
        .ok_or_else(|| FieldError::invalid("failure.error", "is required: say what went wrong"))?;
    if error.message.is_empty() {
        return Err(FieldError::invalid(
            "failure.error.message",
            "must not be empty",
        ));
    }
    at_most("failure.error.kind", error.kind.len(), MAX_ERROR_KIND)?;
    at_most("failure.error.message", error.message.len(), MAX_MESSAGE)?;
    Ok(TaskError {
        kind: if error.kind.is_empty() {
            "Error".into()
        } else {
            error.kind
        },
        message: error.message,
    })
}

/// Checks a reject reason.
pub(crate) fn reason(value: &str) -> Result<(), FieldError> {
    at_most("reject.reason", value.len(), MAX_MESSAGE)
}

/// Checks a result value.
pub(crate) fn result_value(value: &[u8], content_type: &str, max: usize) -> Result<(), FieldError> {
    if value.len() > max {
        return Err(FieldError::too_large(
            "success.value",
            format!("is {} bytes; the broker accepts at most {max}", value.len()),
        ));
    }
    at_most("success.content_type", content_type.len(), MAX_CONTENT_TYPE)
}

/// The wire form of a state.
pub(crate) fn state(state: TaskState) -> pb::TaskState {
    match state {
        TaskState::Scheduled => pb::TaskState::Scheduled,
        TaskState::Ready => pb::TaskState::Ready,
        TaskState::Leased => pb::TaskState::Leased,
        TaskState::Retrying => pb::TaskState::Retrying,
        TaskState::Succeeded => pb::TaskState::Succeeded,
        TaskState::Failed => pb::TaskState::Failed,
        TaskState::Revoked => pb::TaskState::Revoked,
        TaskState::Expired => pb::TaskState::Expired,
    }
}

/// The engine form of a listable wire state.
pub(crate) fn listable_state(value: i32) -> Result<TaskState, FieldError> {
    match pb::TaskState::try_from(value) {
        Ok(pb::TaskState::Scheduled) => Ok(TaskState::Scheduled),
        Ok(pb::TaskState::Ready) => Ok(TaskState::Ready),
        Ok(pb::TaskState::Leased) => Ok(TaskState::Leased),
        Ok(pb::TaskState::Retrying) => Ok(TaskState::Retrying),
        Ok(pb::TaskState::Succeeded) => Ok(TaskState::Succeeded),
        Ok(pb::TaskState::Failed) => Ok(TaskState::Failed),
        Ok(pb::TaskState::Revoked) => Ok(TaskState::Revoked),
        Ok(pb::TaskState::Expired) => Ok(TaskState::Expired),
        _ => Err(FieldError::invalid(
            "state",
            format!("{value} is not a state that tasks can be listed in; give READY, SCHEDULED, LEASED, RETRYING, SUCCEEDED, FAILED, REVOKED or EXPIRED"),
        )),
    }
}

/// Unix ms as the wire's signed field.
pub(crate) fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The wire form of a failure.
pub(crate) fn error(error: Option<&TaskError>) -> Option<pb::Error> {
    error.map(|e| pb::Error {
        kind: e.kind.clone(),
        message: e.message.clone(),
    })
}

/// A listing row.
pub(crate) fn summary(
    meta: &TaskMeta,
    held: Option<&crate::engine::limits::Held>,
) -> pb::TaskSummary {
    let due = match meta.state {
        TaskState::Scheduled | TaskState::Retrying => meta.due_ms,
        TaskState::Leased => meta.lease().map_or(0, |l| l.deadline_ms),
        _ => 0,
    };
    pb::TaskSummary {
        task_id: meta.id.to_string(),
        name: meta.name.to_string(),
        queue: meta.queue.to_string(),
        state: state(meta.state).into(),
        priority: u32::from(meta.priority),
        attempts: meta.attempts,
        enqueued_at_unix_ms: ms(meta.enqueued_ms),
        due_at_unix_ms: ms(due),
        error: error(meta.error()),
        payload_size: u64::from(meta.payload_size),
        waiting_for: held.map(|h| h.limit.clone()).unwrap_or_default(),
        waiting_until_unix_ms: held.map_or(0, |h| ms(h.until_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen() -> TaskId {
        TaskId::new("generated")
    }

    fn spec(name: &str) -> pb::TaskSpec {
        pb::TaskSpec {
            name: name.into(),
            ..pb::TaskSpec::default()
        }
    }

    #[test]
    fn defaults_fill_in_queue_retries_and_lease() {
        let task = new_task(0, spec("email.send"), 1024, || TaskId::new("gen")).unwrap();
        assert_eq!(task.queue, "default");
        assert_eq!(task.id.to_string(), "gen");
        assert_eq!(task.options.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(task.options.lease_ms, DEFAULT_LEASE_MS);
    }

    #[test]
    fn refusals_name_the_field() {
        let err = new_task(3, spec("bad name"), 1024, gen).unwrap_err();
        assert_eq!(err.field, "tasks[3].name");
        let mut s = spec("ok");
        s.priority = 10;
        assert_eq!(
            new_task(0, s, 1024, gen).unwrap_err().field,
            "tasks[0].priority"
        );
        let mut s = spec("ok");
        s.payload = vec![0; 2048];
        let err = new_task(0, s, 1024, gen).unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted);
        let mut s = spec("ok");
        s.eta_unix_ms = 5;
        s.countdown_ms = 5;
        assert_eq!(
            new_task(0, s, 1024, gen).unwrap_err().field,
            "tasks[0].countdown_ms"
        );
        let mut s = spec("ok");
        s.eta_unix_ms = -1;
        assert_eq!(
            new_task(0, s, 1024, gen).unwrap_err().field,
            "tasks[0].eta_unix_ms"
        );
    }

    proptest::proptest! {
        /// Whatever a client sends, checking it answers Ok or a field error; it never panics.
        #[test]
        fn any_task_spec_is_accepted_or_refused_never_panics(
            name in ".{0,260}",
            queue in ".{0,260}",
            task_id in ".{0,140}",
            priority in proptest::num::u32::ANY,
            max_retries in proptest::num::u32::ANY,
            lease in proptest::num::u64::ANY,
            backoff in proptest::num::u64::ANY,
            eta in proptest::num::i64::ANY,
            countdown in proptest::num::u64::ANY,
            expires_at in proptest::num::i64::ANY,
            expires_in in proptest::num::u64::ANY,
            payload_len in 0usize..3000,
        ) {
            let spec = pb::TaskSpec {
                name,
                queue,
                task_id,
                priority,
                max_retries,
                lease_duration_ms: lease,
                retry_backoff_ms: backoff,
                retry_backoff_max_ms: backoff,
                eta_unix_ms: eta,
                countdown_ms: countdown,
                expires_at_unix_ms: expires_at,
                expires_in_ms: expires_in,
                payload: vec![0; payload_len],
                ..pb::TaskSpec::default()
            };
            if let Err(err) = new_task(0, spec, 2048, || TaskId::new("generated")) {
                proptest::prop_assert!(err.field.starts_with("tasks[0]."), "{err:?}");
                proptest::prop_assert!(!err.message.is_empty());
            }
        }
    }

    #[test]
    fn no_retries_overrides_the_default() {
        let mut s = spec("ok");
        s.no_retries = true;
        assert_eq!(new_task(0, s, 1024, gen).unwrap().options.max_retries, 0);
    }
}
