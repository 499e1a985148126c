//! What workers report about attempts: acks, nacks, failures and retry times.

use stalk_proto::v1 as pb;

use super::{at_most, delay_ms, lease_id, task_id, unix_ms, FieldError};
use super::{MAX_CONTENT_TYPE, MAX_ERROR_KIND, MAX_MESSAGE};
use crate::broker::AckItem;
use crate::engine::{AckOutcome, NackAction, TaskError, TaskResult, When};

/// A requeue: after a delay or at a time (`field` names the message in errors).
pub(crate) fn requeue(
    field: &str,
    requeue: &pb::Requeue,
    now_ms: u64,
) -> Result<NackAction, FieldError> {
    let delay = delay_ms(&format!("{field}.delay_ms"), requeue.delay_ms)?;
    let at = unix_ms(&format!("{field}.at_unix_ms"), requeue.at_unix_ms, now_ms)?;
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
pub(crate) fn retry_at(failure: &pb::Failure, now_ms: u64) -> Result<Option<When>, FieldError> {
    let delay = delay_ms("failure.retry_in_ms", failure.retry_in_ms)?;
    let at = unix_ms("failure.retry_at_unix_ms", failure.retry_at_unix_ms, now_ms)?;
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

/// Checks and converts a nack's action; `path` prefixes the field names in errors (`nack.`
/// on a session, empty for the unary call).
pub(crate) fn nack_action(
    path: &str,
    action: Option<pb::nack_request::Action>,
    now_ms: u64,
) -> Result<NackAction, FieldError> {
    match action {
        Some(pb::nack_request::Action::Requeue(requeue)) => {
            self::requeue(&format!("{path}requeue"), &requeue, now_ms)
        }
        Some(pb::nack_request::Action::Reject(reject)) => {
            reason(&reject.reason)?;
            Ok(NackAction::Reject {
                reason: reject.reason,
            })
        }
        None => Err(FieldError::invalid(
            format!("{path}action"),
            "give exactly one of requeue and reject",
        )),
    }
}

/// Checks and converts one ack.
/// `now_ms` is the broker's time, which bounds a retry time.
pub(crate) fn ack_item(
    req: pb::AckRequest,
    max_payload: usize,
    now_ms: u64,
) -> Result<AckItem, FieldError> {
    task_id("task_id", &req.task_id)?;
    lease_id(req.lease_id)?;
    use pb::ack_request::Outcome;
    let outcome = match req.outcome {
        Some(Outcome::Success(result)) => {
            result_value(&result.value, &result.content_type, max_payload)?;
            let result = TaskResult {
                value: result.value,
                content_type: result.content_type,
            };
            match super::graft(None, req.add, max_payload, now_ms)? {
                Some(graft) => AckOutcome::Graft {
                    result: Some(result),
                    graft: Box::new(graft),
                },
                None => AckOutcome::Success(result),
            }
        }
        Some(Outcome::Replace(canvas)) => {
            match super::graft(Some(canvas), req.add, max_payload, now_ms)? {
                Some(graft) => AckOutcome::Graft {
                    result: None,
                    graft: Box::new(graft),
                },
                None => return Err(FieldError::invalid("replace", "is empty")),
            }
        }
        Some(Outcome::Failure(_)) if !req.add.is_empty() => {
            return Err(FieldError::invalid(
                "add",
                "a failed attempt adds nothing; send add with success or replace",
            ))
        }
        Some(Outcome::Failure(failure)) => AckOutcome::Failure {
            lost: match failure.lost {
                true if failure.fatal
                    || failure.retry_in_ms > 0
                    || failure.retry_at_unix_ms != 0 =>
                {
                    return Err(FieldError::invalid(
                        "failure.lost",
                        "a lost attempt is retried at once: leave fatal and the retry times unset",
                    ))
                }
                lost => lost,
            },
            retry_at: retry_at(&failure, now_ms)?,
            error: self::failure(failure.error)?,
            fatal: failure.fatal,
        },
        None => {
            return Err(FieldError::invalid(
                "outcome",
                "give exactly one of success, failure and replace",
            ))
        }
    };
    Ok((req.task_id, req.lease_id, outcome))
}
