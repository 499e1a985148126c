//! Checks and conversions between the wire types and the engine's, shared by every service.
//! Every refusal names the field, says what was wrong and what is allowed.
//!
//! # Layout
//! - `mod.rs`: [`FieldError`], bounds, and checks of names, ids, durations and states.
//! - `task.rs`: a task spec into a `NewTask`.
//! - `attempt.rs`: acks, nacks, failures and retries from workers.
//! - `hello.rs`: a worker's `hello` into its session's options.
//! - `control.rs`: control commands for workers, and a worker's new queue set.
//! - `revoke.rs`: a revoke request, and what a revoke did.
//! - `reply.rs`: the wire forms of what the broker answers (leased tasks, outcomes, rows).

mod attempt;
mod canvas;
mod control;
mod hello;
mod reply;
mod revoke;
mod task;

use stalk_proto::v1 as pb;
use tonic::Code;

use crate::engine::{TaskMeta, TaskState};

pub(crate) use attempt::{ack_item, nack_action};
pub(crate) use canvas::{graft, workflow};
pub(crate) use control::{consume_queues, wire_command, worker_command};
pub(crate) use hello::session_options;
pub(crate) use reply::{ack_ids, acked, enqueued, leased_task, result_response, summary};
pub(crate) use revoke::{revoke_request, revoke_response};
pub(crate) use task::{new_task, task_at};

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
/// How far ahead any time may be, however it is said: a delay (countdown, expiry, retry,
/// requeue) or an absolute unix-ms time, which is measured from the broker's clock (issue 12, §3:
/// absolute times up to i64::MAX were accepted while delays were capped).
pub(crate) const MAX_DELAY_MS: u64 = 366 * 86_400_000;
pub(super) const MAX_BACKOFF_MS: u64 = 7 * 86_400_000;
pub(super) const MAX_RETRIES: u32 = 1000;
pub(super) const MAX_LOST_ATTEMPTS: u32 = 100;
pub(super) const MAX_HEADERS: usize = 64;
pub(super) const MAX_HEADER_VALUE: usize = 4096;
pub(super) const MAX_CONTENT_TYPE: usize = 128;
/// Longest header name.
pub(super) const MAX_HEADER_NAME: usize = 128;
pub(super) const MAX_UNIQUE_KEY: usize = 256;
pub(super) const MAX_ERROR_KIND: usize = 256;
pub(super) const MAX_MESSAGE: usize = 64 * 1024;
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

pub(super) fn token(field: &str, value: &str, max: usize, extra: &str) -> Result<(), FieldError> {
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

pub(super) fn at_most(field: &str, len: usize, max: usize) -> Result<(), FieldError> {
    if len > max {
        return Err(FieldError::invalid(
            field,
            format!("is {len} bytes long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

pub(super) fn in_range(field: &str, value: u64, (lo, hi): (u64, u64)) -> Result<(), FieldError> {
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

/// An absolute time (0 means "not given"): after 1970 and at most [`MAX_DELAY_MS`] after
/// `now_ms`, the broker's time, so it is bound as a delay is. A time in the past is due at once.
pub(super) fn unix_ms(field: &str, value: i64, now_ms: u64) -> Result<Option<u64>, FieldError> {
    if value == 0 {
        return Ok(None);
    }
    let Ok(at) = u64::try_from(value) else {
        return Err(FieldError::invalid(
            field,
            format!("{value} is before 1970; give ms since the Unix epoch"),
        ));
    };
    let latest = now_ms.saturating_add(MAX_DELAY_MS);
    if at > latest {
        return Err(FieldError::invalid(
            field,
            format!(
                "{at} is more than 366 days after the broker's time ({now_ms}); give a time at most {latest}, the bound every delay has"
            ),
        ));
    }
    Ok(Some(at))
}

/// Checks a lease id: 0 is never a lease.
pub(crate) fn lease_id(value: u64) -> Result<(), FieldError> {
    if value == 0 {
        return Err(FieldError::invalid(
            "lease_id",
            "is required: pass the lease_id from the leased task",
        ));
    }
    Ok(())
}

/// What a Lease asks for, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseAsk {
    /// Most tasks to lease.
    pub(crate) max: usize,
    /// How long to wait for one.
    pub(crate) wait: std::time::Duration,
    /// The lease duration, if the caller gave one.
    pub(crate) lease_ms: Option<u64>,
}

/// Checks a Lease request.
pub(crate) fn lease_request(req: &pb::LeaseRequest) -> Result<LeaseAsk, FieldError> {
    lease_queues(&req.queues)?;
    let max = match req.max_tasks {
        0 => 1,
        n => usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_BATCH)
            .ok_or_else(|| {
                FieldError::invalid("max_tasks", format!("{n} is more than {MAX_BATCH}"))
            })?,
    };
    let wait = wait_ms("wait_ms", req.wait_ms)?;
    let lease_ms = lease_ms("lease_duration_ms", req.lease_duration_ms)?;
    if req.worker_id.len() > 256 {
        return Err(FieldError::invalid("worker_id", "is longer than 256 bytes"));
    }
    Ok(LeaseAsk {
        max,
        wait,
        lease_ms,
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
        TaskState::Waiting => pb::TaskState::Waiting,
    }
}

/// The wire state of a task: a leased one is RUNNING once its worker started it, LEASED while
/// it waits in the worker's prefetch buffer.
pub(crate) fn task_state(meta: &TaskMeta) -> pb::TaskState {
    match meta.state {
        TaskState::Leased if !meta.cold().prefetched => pb::TaskState::Running,
        other => state(other),
    }
}

/// The engine form of a listable wire state.
pub(crate) fn listable_state(value: i32) -> Result<TaskState, FieldError> {
    match pb::TaskState::try_from(value) {
        Ok(pb::TaskState::Scheduled) => Ok(TaskState::Scheduled),
        Ok(pb::TaskState::Ready) => Ok(TaskState::Ready),
        // Held by a worker, started or not; each row says which.
        Ok(pb::TaskState::Leased | pb::TaskState::Running) => Ok(TaskState::Leased),
        Ok(pb::TaskState::Retrying) => Ok(TaskState::Retrying),
        Ok(pb::TaskState::Succeeded) => Ok(TaskState::Succeeded),
        Ok(pb::TaskState::Failed) => Ok(TaskState::Failed),
        Ok(pb::TaskState::Revoked) => Ok(TaskState::Revoked),
        Ok(pb::TaskState::Expired) => Ok(TaskState::Expired),
        Ok(pb::TaskState::Waiting) => Ok(TaskState::Waiting),
        _ => Err(FieldError::invalid(
            "state",
            format!("{value} is not a state that tasks can be listed in; give READY, SCHEDULED, LEASED, RETRYING, SUCCEEDED, FAILED, REVOKED, EXPIRED or WAITING"),
        )),
    }
}

/// Unix ms as the wire's signed field.
pub(crate) fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
