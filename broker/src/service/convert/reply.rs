//! The wire forms of what the broker answers: enqueue outcomes, leased tasks, ack results and
//! listing rows.

use std::collections::HashMap;

use stalk_proto::v1 as pb;

use super::ms;
use crate::broker::{AckItem, AckResults, LeasedTask, TaskStatus};
use crate::engine::{Enqueued, TaskError, TaskMeta, TaskState};
use crate::service::status::{engine_code, wire_error};

/// The wire form of one task's enqueue outcome.
pub(crate) fn enqueued(result: Enqueued) -> pb::EnqueueOutcome {
    let created = matches!(result, Enqueued::Created { .. });
    match result {
        Enqueued::Created { id, state } | Enqueued::Existing { id, state } => pb::EnqueueOutcome {
            task_id: id.to_string(),
            created,
            state: super::state(state).into(),
            error: None,
        },
        Enqueued::Refused(err) => pb::EnqueueOutcome {
            error: Some(wire_error(engine_code(&err), err.to_string())),
            ..pb::EnqueueOutcome::default()
        },
    }
}

/// A leased task's headers: kept with its metadata, or in its body when it was stored by a
/// broker from before keyed limits.
fn headers(t: &LeasedTask) -> HashMap<String, String> {
    let kept = &t.meta.cold().headers;
    if kept.is_empty() {
        return t.body.headers.clone().into_iter().collect();
    }
    kept.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The wire form of a leased task.
pub(crate) fn leased_task(t: LeasedTask) -> pb::LeasedTask {
    let headers = headers(&t);
    pb::LeasedTask {
        task_id: t.meta.id.to_string(),
        name: t.meta.name.to_string(),
        queue: t.meta.queue.to_string(),
        payload: t.body.payload,
        content_type: t.body.content_type,
        headers,
        priority: u32::from(t.meta.priority),
        lease_id: t.lease_id,
        attempt: t.meta.attempts,
        lease_deadline_unix_ms: ms(t.deadline_ms),
        retries_left: t
            .meta
            .options
            .max_retries
            .saturating_sub(t.meta.retries_used()),
        enqueued_at_unix_ms: ms(t.meta.enqueued_ms),
        soft_time_limit_ms: t.body.soft_time_limit_ms,
        time_limit_ms: t.body.time_limit_ms,
        ready_since_unix_ms: ms(t.meta.ready_since_ms()),
        expires_at_unix_ms: t.meta.expires_at_ms().map_or(0, ms),
    }
}

/// The task and lease of each ack, which its result names (taken before the acks are applied).
pub(crate) fn ack_ids(acks: &[AckItem]) -> Vec<(String, u64)> {
    acks.iter()
        .map(|(task_id, lease_id, _)| (task_id.clone(), *lease_id))
        .collect()
}

/// The wire form of the answer to acks: one result per ack, in their order, each naming the ack
/// it answers so that answers which arrive out of order can be matched.
pub(crate) fn acked(ids: Vec<(String, u64)>, results: AckResults) -> pb::AckManyResponse {
    let results = ids
        .into_iter()
        .zip(results)
        .map(|((task_id, lease_id), result)| {
            let (state, error) = match result {
                Ok(state) => (super::state(state), None),
                Err(err) => (
                    pb::TaskState::Unspecified,
                    Some(wire_error(engine_code(&err), err.to_string())),
                ),
            };
            pb::AckManyResult {
                state: state.into(),
                error,
                task_id,
                lease_id,
            }
        })
        .collect();
    pb::AckManyResponse { results }
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
        state: super::task_state(meta).into(),
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

/// GetResult's answer for a task's status; `requested_id` names an unknown one.
pub(crate) fn result_response(requested_id: String, status: TaskStatus) -> pb::GetResultResponse {
    let Some(meta) = status.meta else {
        return pb::GetResultResponse {
            task_id: requested_id,
            state: pb::TaskState::Unknown.into(),
            ..pb::GetResultResponse::default()
        };
    };
    let shows_error = matches!(
        meta.state,
        TaskState::Failed | TaskState::Retrying | TaskState::Revoked
    );
    pb::GetResultResponse {
        task_id: meta.id.to_string(),
        state: super::task_state(&meta).into(),
        name: meta.name.to_string(),
        queue: meta.queue.to_string(),
        result: status.result.map(|r| pb::TaskResult {
            value: r.value,
            content_type: r.content_type,
        }),
        error: if shows_error {
            error(meta.error())
        } else {
            None
        },
        attempts: meta.attempts,
        enqueued_at_unix_ms: ms(meta.enqueued_ms),
        started_at_unix_ms: ms(meta.cold().started_ms),
        finished_at_unix_ms: ms(meta.cold().finished_ms),
        due_at_unix_ms: ms(match meta.state {
            TaskState::Scheduled | TaskState::Retrying => meta.due_ms,
            _ => 0,
        }),
        result_expires_at_unix_ms: ms(meta.cold().purge_at_ms),
    }
}
