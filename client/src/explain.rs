//! Why a task is not running (`Admin.Explain`).

use std::time::SystemTime;

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::wire::{non_empty, time_from_unix_ms};

/// A task's state and every reason that holds it ([`Client::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The task id.
    pub task_id: String,
    /// Its state.
    pub state: TaskState,
    /// Every reason, most direct first.
    pub reasons: Vec<ExplainReason>,
}

/// One reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainReason {
    /// Stable for scripts: `eta`, `backoff`, `rate_limit`, `concurrency_cap`, `queue_paused`,
    /// `no_worker_for_queue`, `no_handler`, `prefetched`, `running`, `ready`, `revoked`,
    /// `expired`, `succeeded`, `failed`.
    pub code: String,
    /// The reason in words.
    pub message: String,
    /// Until when it holds, if known.
    pub until: Option<SystemTime>,
    /// The worker it names.
    pub worker: Option<String>,
    /// The limit it names.
    pub limit: Option<String>,
}

impl Client {
    /// Why the task `id` is not running: its state and every reason that holds it.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `NOT_FOUND` for an id the broker does not know,
    /// `INVALID_ARGUMENT` for a malformed one.
    pub async fn explain(&self, id: &str) -> Result<Explanation, ClientError> {
        let request = v1::ExplainRequest {
            task_id: id.to_owned(),
        };
        let response = self.admin().explain(request).await?.into_inner();
        Ok(Explanation {
            task_id: response.task_id,
            state: TaskState::from_wire(response.state)?,
            reasons: response
                .reasons
                .into_iter()
                .map(|r| ExplainReason {
                    code: r.code,
                    message: r.message,
                    until: time_from_unix_ms(r.until_unix_ms),
                    worker: non_empty(r.worker),
                    limit: non_empty(r.limit),
                })
                .collect(),
        })
    }
}
