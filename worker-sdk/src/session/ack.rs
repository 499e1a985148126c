//! The acknowledgement that reports a finished attempt to the broker, and what the worker says
//! once the broker answers it.

use std::sync::Arc;
use std::time::Duration;

use stalk_proto::v1 as pb;

use crate::context::{Handoff, TaskMeta};
use crate::error::TaskError;
use crate::metrics::Outcome;
use crate::pool::{Done, Ending};
use crate::time::millis;

/// A finished attempt's ack, and what its report needs once the broker has answered it.
#[derive(Debug)]
pub(crate) struct Ack {
    /// What is sent.
    pub(crate) request: pb::AckRequest,
    meta: Arc<TaskMeta>,
    elapsed: Duration,
}

impl Ack {
    /// The ack for a finished run.
    pub(crate) fn new(done: Done) -> Self {
        Self {
            request: request(&done.meta, done.lease_id, done.ending, done.handoff),
            meta: done.meta,
            elapsed: done.elapsed,
        }
    }

    /// The name of the task whose attempt it reports.
    pub(crate) fn name(&self) -> &str {
        &self.meta.name
    }

    /// The lease whose attempt it completes.
    pub(crate) fn lease_id(&self) -> u64 {
        self.request.lease_id
    }

    /// The broker took the outcome: it is final, and said so. Successes are `info`, one line
    /// per task, as Celery's worker writes them, so a worker's log shows what it did
    /// (`STALK_LOG=info,stalk_worker=warn` keeps only the problems for very busy workers);
    /// retries are `warn`; failures that end the task and lost attempts are `error`. Returns
    /// the outcome it logged.
    pub(crate) fn accepted(&self) -> Outcome {
        let meta = &self.meta;
        let (task, name, attempt) = (&meta.id, &meta.name, meta.attempt);
        let elapsed_ms = millis(self.elapsed);
        let failure = match &self.request.outcome {
            Some(pb::ack_request::Outcome::Failure(failure)) => failure,
            Some(pb::ack_request::Outcome::Replace(_)) => {
                tracing::info!(%task, %name, attempt, elapsed_ms, "task replaced itself; it ends as its replacement does");
                return Outcome::Succeeded;
            }
            _ => {
                tracing::info!(%task, %name, attempt, elapsed_ms, "task succeeded");
                return Outcome::Succeeded;
            }
        };
        let (kind, message) = failure
            .error
            .as_ref()
            .map_or(("", ""), |e| (e.kind.as_str(), e.message.as_str()));
        if failure.lost {
            tracing::error!(%task, %name, attempt, elapsed_ms, cause = %message, "task attempt lost");
            Outcome::Lost
        } else if !failure.fatal && meta.retries_left > 0 {
            tracing::warn!(%task, %name, attempt, elapsed_ms, %kind, %message, retries_left = meta.retries_left, "task failed; it will be retried");
            Outcome::Retried
        } else {
            tracing::error!(%task, %name, attempt, elapsed_ms, %kind, %message, "task failed");
            Outcome::Failed
        }
    }

    /// The broker refused the ack (the lease had ended: expired, superseded or revoked): this
    /// attempt's outcome was not recorded, so the task is not done by it.
    pub(crate) fn refused(&self, error: &pb::Error) {
        let meta = &self.meta;
        tracing::warn!(
            task = %meta.id,
            name = %meta.name,
            attempt = meta.attempt,
            lease = self.request.lease_id,
            outcome = self.outcome(),
            kind = %error.kind,
            reason = %error.message,
            "ack refused; the broker did not record this attempt, so the task is not done by it"
        );
    }

    /// The connection ended before the broker answered: it may or may not have the outcome.
    pub(crate) fn unanswered(&self) {
        let meta = &self.meta;
        tracing::warn!(
            task = %meta.id,
            name = %meta.name,
            attempt = meta.attempt,
            outcome = self.outcome(),
            "the session ended before the broker answered this ack; if it was not recorded, the task runs again"
        );
    }

    /// The outcome the ack reports, in a word.
    fn outcome(&self) -> &'static str {
        match &self.request.outcome {
            Some(pb::ack_request::Outcome::Failure(f)) if f.lost => "lost",
            Some(pb::ack_request::Outcome::Failure(_)) => "failed",
            Some(pb::ack_request::Outcome::Replace(_)) => "replaced",
            _ => "succeeded",
        }
    }
}

/// The wire form of an attempt's ending; what its handler handed on goes with a success (an
/// attempt that failed hands nothing on).
fn request(meta: &TaskMeta, lease_id: u64, ending: Ending, handoff: Handoff) -> pb::AckRequest {
    let succeeded = matches!(ending, Ending::Finished(Ok(_)));
    if !succeeded && !handoff.is_empty() {
        tracing::debug!(task = %meta.id, "the attempt failed, so what it handed on is dropped");
    }
    let Handoff { replace, add } = if succeeded {
        handoff
    } else {
        Handoff::default()
    };
    let outcome = match ending {
        Ending::Finished(Ok(_)) if replace.is_some() => {
            pb::ack_request::Outcome::Replace(replace.unwrap_or_default())
        }
        Ending::Finished(Ok(value)) => pb::ack_request::Outcome::Success(pb::TaskResult {
            value: value.into(),
            content_type: "application/json".into(),
        }),
        Ending::Finished(Err(TaskError::Retry {
            kind,
            message,
            countdown,
        })) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: false,
            retry_in_ms: countdown.map_or(0, |d| millis(d).max(1)),
            ..pb::Failure::default()
        }),
        Ending::Finished(Err(TaskError::Fatal { kind, message })) => {
            pb::ack_request::Outcome::Failure(pb::Failure {
                error: Some(pb::Error { kind, message }),
                fatal: true,
                ..pb::Failure::default()
            })
        }
        Ending::Lost(cause) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error {
                kind: "WorkerLost".into(),
                message: cause,
            }),
            lost: true,
            ..pb::Failure::default()
        }),
    };
    pb::AckRequest {
        task_id: meta.id.clone(),
        lease_id,
        outcome: Some(outcome),
        add,
    }
}
