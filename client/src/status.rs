//! Reading results: [`TaskStatus`] and the long-polling [`Client::result`] / [`Client::wait_for`].

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use stalk_proto::v1;
use tokio::time::Instant;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::wire::{duration_ms, time_from_unix_ms};

/// The longest `wait_ms` one GetResult call may ask for; longer waits are several calls.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(60);

/// The pause before polling again when the broker answered before the asked-for wait.
const EARLY_ANSWER_PAUSE: Duration = Duration::from_millis(100);

/// The longest wait honoured; longer ones (up to `Duration::MAX`) mean "until it finishes" and
/// are cut to this, because a deadline past `Instant`'s range would panic.
const LONGEST_WAIT: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A task's return value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    /// The value, opaque to the broker.
    pub value: bytes::Bytes,
    /// Its media type, e.g. `application/json`; may be empty.
    pub content_type: String,
}

/// Why an attempt failed, or why a task was refused or rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The error type a worker reported (e.g. `TimeoutError`) or a gRPC code name.
    pub kind: String,
    /// A human-readable description.
    pub message: String,
}

impl From<v1::Error> for TaskFailure {
    fn from(err: v1::Error) -> Self {
        Self {
            kind: err.kind,
            message: err.message,
        }
    }
}

/// A task's state and, once terminal, its result or error, as the broker reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStatus {
    /// The task id.
    pub id: String,
    /// Where the task is; [`TaskState::Unknown`] when the broker has no record of the id.
    pub state: TaskState,
    /// The task type; empty when the state is `Unknown`.
    pub name: String,
    /// The queue; empty when the state is `Unknown`.
    pub queue: String,
    /// The return value; set when the task SUCCEEDED.
    pub result: Option<TaskResult>,
    /// The last failure: set when the task FAILED, is RETRYING, or was rejected.
    pub error: Option<TaskFailure>,
    /// How many attempts were started.
    pub attempts: u32,
    /// When the task was enqueued.
    pub enqueued_at: Option<SystemTime>,
    /// When the last attempt started.
    pub started_at: Option<SystemTime>,
    /// When the task reached a terminal state.
    pub finished_at: Option<SystemTime>,
    /// When a SCHEDULED or RETRYING task becomes READY.
    pub due_at: Option<SystemTime>,
    /// When the broker deletes the record of this terminal task.
    pub result_expires_at: Option<SystemTime>,
}

impl TaskStatus {
    /// Decodes the result value as JSON.
    ///
    /// # Errors
    ///
    /// [`ClientError::NoResult`] if the task has no result (it did not succeed, or not yet),
    /// [`ClientError::Json`] if the value does not decode as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        let result = self.result.as_ref().ok_or_else(|| ClientError::NoResult {
            task_id: self.id.clone(),
            state: self.state,
        })?;
        Ok(serde_json::from_slice(&result.value)?)
    }

    pub(crate) fn from_wire(response: v1::GetResultResponse) -> Result<Self, ClientError> {
        Ok(Self {
            state: TaskState::from_wire(response.state)?,
            id: response.task_id,
            name: response.name,
            queue: response.queue,
            result: response.result.map(|r| TaskResult {
                value: r.value,
                content_type: r.content_type,
            }),
            error: response.error.map(TaskFailure::from),
            attempts: response.attempts,
            enqueued_at: time_from_unix_ms(response.enqueued_at_unix_ms),
            started_at: time_from_unix_ms(response.started_at_unix_ms),
            finished_at: time_from_unix_ms(response.finished_at_unix_ms),
            due_at: time_from_unix_ms(response.due_at_unix_ms),
            result_expires_at: time_from_unix_ms(response.result_expires_at_unix_ms),
        })
    }
}

impl Client {
    /// Reads a task's status. With `wait`, long-polls until the task is terminal or `wait` has
    /// passed, then returns whatever the state is (use [`Client::wait_for`] to treat a task that
    /// is still running as an error). An id the broker does not know answers
    /// [`TaskState::Unknown`], not an error.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (e.g. a malformed id),
    /// [`ClientError::Protocol`] for a state this client does not know.
    pub async fn result(
        &self,
        id: &str,
        wait: Option<Duration>,
    ) -> Result<TaskStatus, ClientError> {
        self.poll(id, wait.unwrap_or(Duration::ZERO)).await
    }

    /// Waits up to `timeout` for a task to reach a terminal state (or turn out `Unknown`) and
    /// returns its status; the waiting is done by the broker (long poll), in calls of at most
    /// [`MAX_POLL_WAIT`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Timeout`] if the task is still not terminal after `timeout`, and the
    /// errors of [`Client::result`].
    pub async fn wait_for(&self, id: &str, timeout: Duration) -> Result<TaskStatus, ClientError> {
        let status = self.poll(id, timeout).await?;
        if status.state.is_terminal() || status.state == TaskState::Unknown {
            Ok(status)
        } else {
            Err(ClientError::Timeout {
                task_id: status.id,
                state: status.state,
                waited: timeout,
            })
        }
    }

    /// Long-polls GetResult until the task is terminal or unknown, or `wait` has passed.
    async fn poll(&self, id: &str, wait: Duration) -> Result<TaskStatus, ClientError> {
        let deadline = Instant::now() + wait.min(LONGEST_WAIT);
        loop {
            let started = Instant::now();
            let asked = deadline
                .saturating_duration_since(started)
                .min(MAX_POLL_WAIT);
            let request = v1::GetResultRequest {
                task_id: id.to_owned(),
                wait_ms: duration_ms(asked),
            };
            let response = self.tasks().get_result(request).await?.into_inner();
            let status = TaskStatus::from_wire(response)?;
            let settled = status.state.is_terminal() || status.state == TaskState::Unknown;
            let now = Instant::now();
            if settled || now >= deadline {
                return Ok(status);
            }
            // A broker that answers before the wait it was asked for (one that does not
            // long-poll) must not turn this loop into a busy loop.
            if now - started < asked {
                tokio::time::sleep(EARLY_ANSWER_PAUSE.min(deadline - now)).await;
            }
        }
    }
}

/// True for JSON media types: `application/json`, `…+json`, with or without parameters.
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/problem+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
    }

    #[test]
    fn a_wire_result_becomes_a_status_with_optional_times() {
        let status = TaskStatus::from_wire(v1::GetResultResponse {
            task_id: "t-1".into(),
            state: v1::TaskState::Succeeded as i32,
            name: "email.send".into(),
            queue: "default".into(),
            result: Some(v1::TaskResult {
                value: bytes::Bytes::from_static(br#"{"sent":true}"#),
                content_type: "application/json".into(),
            }),
            attempts: 2,
            enqueued_at_unix_ms: 1_000,
            ..v1::GetResultResponse::default()
        })
        .expect("valid response");
        assert_eq!(status.state, TaskState::Succeeded);
        assert_eq!(status.attempts, 2);
        assert!(status.enqueued_at.is_some());
        assert_eq!(status.started_at, None, "0 on the wire is not set");
        let value: serde_json::Value = status.json().expect("JSON result");
        assert_eq!(value["sent"], true);
    }

    #[test]
    fn decoding_a_missing_result_names_the_state() {
        let status = TaskStatus::from_wire(v1::GetResultResponse {
            task_id: "t-2".into(),
            state: v1::TaskState::Failed as i32,
            ..v1::GetResultResponse::default()
        })
        .expect("valid response");
        let err = status.json::<serde_json::Value>().unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::NoResult {
                    state: TaskState::Failed,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
