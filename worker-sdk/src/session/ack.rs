//! The acknowledgement that reports a finished attempt to the broker.

use stalk_proto::v1 as pb;

use crate::error::TaskError;
use crate::pool::{Done, Ending};
use crate::time::millis;

/// The ack for a finished run, logged: the ack is where an attempt's outcome is final.
pub(crate) fn ack(done: Done) -> pb::AckRequest {
    log(&done);
    let result = match done.ending {
        Ending::Finished(result) => result,
        Ending::Lost(cause) => {
            let outcome = pb::ack_request::Outcome::Failure(pb::Failure {
                error: Some(pb::Error {
                    kind: "WorkerLost".into(),
                    message: cause,
                }),
                lost: true,
                ..pb::Failure::default()
            });
            return pb::AckRequest {
                task_id: done.meta.id.clone(),
                lease_id: done.lease_id,
                outcome: Some(outcome),
            };
        }
    };
    let outcome = match result {
        Ok(value) => pb::ack_request::Outcome::Success(pb::TaskResult {
            value: value.into(),
            content_type: "application/json".into(),
        }),
        Err(TaskError::Retry {
            kind,
            message,
            countdown,
        }) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: false,
            retry_in_ms: countdown.map_or(0, |d| millis(d).max(1)),
            ..pb::Failure::default()
        }),
        Err(TaskError::Fatal { kind, message }) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: true,
            ..pb::Failure::default()
        }),
    };
    pb::AckRequest {
        task_id: done.meta.id.clone(),
        lease_id: done.lease_id,
        outcome: Some(outcome),
    }
}

/// Says how an attempt ended. Successes are `info`, one line per task, as Celery's worker
/// writes them, so a worker's log shows what it did (`STALK_LOG=info,stalk_worker=warn` keeps
/// only the problems for very busy workers); retries are `warn`; failures that end the task and
/// lost attempts are `error`.
fn log(done: &Done) {
    let meta = &done.meta;
    let (task, name, attempt) = (&meta.id, &meta.name, meta.attempt);
    let elapsed_ms = millis(done.elapsed);
    match &done.ending {
        Ending::Finished(Ok(_)) => {
            tracing::info!(%task, %name, attempt, elapsed_ms, "task succeeded");
        }
        Ending::Finished(Err(TaskError::Retry { kind, message, .. })) if meta.retries_left > 0 => {
            tracing::warn!(%task, %name, attempt, elapsed_ms, %kind, %message, retries_left = meta.retries_left, "task failed; it will be retried");
        }
        Ending::Finished(Err(error)) => {
            let (kind, message) = (error.kind(), error.message());
            tracing::error!(%task, %name, attempt, elapsed_ms, %kind, %message, "task failed");
        }
        Ending::Lost(cause) => {
            tracing::error!(%task, %name, attempt, elapsed_ms, %cause, "task attempt lost");
        }
    }
}
