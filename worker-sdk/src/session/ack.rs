//! The acknowledgement that reports a finished attempt to the broker.

use stalk_proto::v1 as pb;

use crate::error::TaskError;
use crate::pool::{Done, Ending};
use crate::time::millis;

/// The ack for a finished run.
pub(crate) fn ack(done: Done) -> pb::AckRequest {
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
