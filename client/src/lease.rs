//! Consuming tasks with unary calls: [`Client::lease`], then ack, nack or extend the lease.
//!
//! Every call after `lease` is fenced by the lease id: once a lease has expired or the task was
//! handed to another worker, the broker refuses it with `FAILED_PRECONDITION`
//! ([`ClientError::code`]), and the worker must drop the attempt without acknowledging it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::Serialize;
use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::task::JSON_CONTENT_TYPE;
use crate::wire::{duration_ms, time_from_unix_ms};

/// What to lease: see [`Client::lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOptions {
    /// 1 to 32 queue names, tried in this order.
    pub queues: Vec<String>,
    /// The most tasks to return (default 1; at most 1000).
    pub max_tasks: u32,
    /// How long to wait for a task when none is ready (default 0: answer at once; at most 60 s).
    pub wait: Duration,
    /// How long the leases last; `None` uses each task's own lease duration.
    pub lease_duration: Option<Duration>,
    /// Who holds the leases, for admin views and logs.
    pub worker_id: Option<String>,
}

impl LeaseOptions {
    /// Leases one task at a time from these queues, without waiting.
    pub fn new<I, S>(queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            queues: queues.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
}

impl Default for LeaseOptions {
    /// One task from queue `default`, no waiting.
    fn default() -> Self {
        Self {
            queues: vec!["default".to_owned()],
            max_tasks: 1,
            wait: Duration::ZERO,
            lease_duration: None,
            worker_id: None,
        }
    }
}

/// A task handed to this worker under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedTask {
    /// The task id.
    pub id: String,
    /// The task type; dispatch on it.
    pub name: String,
    /// The queue it came from.
    pub queue: String,
    /// The task's arguments.
    pub payload: bytes::Bytes,
    /// The payload's media type; may be empty.
    pub content_type: String,
    /// Headers set by the producer.
    pub headers: HashMap<String, String>,
    /// 0 to 9.
    pub priority: u32,
    /// The lease that fences this attempt.
    pub lease_id: u64,
    /// 1 for the first delivery, +1 for every redelivery.
    pub attempt: u32,
    /// The lease ends then unless extended ([`Client::extend_lease`]).
    pub lease_deadline: Option<SystemTime>,
    /// Retries left after this attempt if it fails.
    pub retries_left: u32,
    /// When the task was first enqueued.
    pub enqueued_at: Option<SystemTime>,
}

impl LeasedTask {
    /// Decodes the payload as JSON.
    ///
    /// # Errors
    ///
    /// [`ClientError::Json`] if the payload does not decode as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        Ok(serde_json::from_slice(&self.payload)?)
    }

    /// The (task id, lease id) pair that names this attempt in ack, nack and extend calls.
    pub fn lease(&self) -> LeaseRef<'_> {
        LeaseRef {
            task_id: &self.id,
            lease_id: self.lease_id,
        }
    }

    fn from_wire(task: v1::LeasedTask) -> Self {
        Self {
            id: task.task_id,
            name: task.name,
            queue: task.queue,
            payload: task.payload,
            content_type: task.content_type,
            headers: task.headers,
            priority: task.priority,
            lease_id: task.lease_id,
            attempt: task.attempt,
            lease_deadline: time_from_unix_ms(task.lease_deadline_unix_ms),
            retries_left: task.retries_left,
            enqueued_at: time_from_unix_ms(task.enqueued_at_unix_ms),
        }
    }
}

/// Names one attempt: a task id and the lease id it was leased under.
///
/// Made from `&LeasedTask`, or from a `(&str, u64)` pair when the worker kept only the ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRef<'a> {
    /// The task id.
    pub task_id: &'a str,
    /// The lease id.
    pub lease_id: u64,
}

impl<'a> From<&'a LeasedTask> for LeaseRef<'a> {
    fn from(task: &'a LeasedTask) -> Self {
        task.lease()
    }
}

impl<'a> From<(&'a str, u64)> for LeaseRef<'a> {
    fn from((task_id, lease_id): (&'a str, u64)) -> Self {
        Self { task_id, lease_id }
    }
}

impl<'a> From<(&'a String, u64)> for LeaseRef<'a> {
    fn from((task_id, lease_id): (&'a String, u64)) -> Self {
        Self { task_id, lease_id }
    }
}

impl Client {
    /// Leases up to `options.max_tasks` ready tasks, waiting up to `options.wait` if none is
    /// ready; returns an empty list if none became ready in time.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the request (e.g. no queues, a wait over
    /// 60 s).
    pub async fn lease(&self, options: LeaseOptions) -> Result<Vec<LeasedTask>, ClientError> {
        let request = v1::LeaseRequest {
            queues: options.queues,
            max_tasks: options.max_tasks,
            wait_ms: duration_ms(options.wait),
            lease_duration_ms: options.lease_duration.map_or(0, duration_ms),
            worker_id: options.worker_id.unwrap_or_default(),
        };
        let response = self.tasks().lease(request).await?.into_inner();
        Ok(response
            .tasks
            .into_iter()
            .map(LeasedTask::from_wire)
            .collect())
    }

    /// Completes the attempt with a result: the task SUCCEEDS. Safe to repeat if the reply was
    /// lost. Returns the task's new state.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `FAILED_PRECONDITION` if the lease expired or was superseded,
    /// `NOT_FOUND` for an unknown task, `RESOURCE_EXHAUSTED` for a value over the size limit.
    pub async fn ack_success<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        value: impl Into<bytes::Bytes>,
        content_type: impl Into<String>,
    ) -> Result<TaskState, ClientError> {
        let outcome = v1::ack_request::Outcome::Success(v1::TaskResult {
            value: value.into(),
            content_type: content_type.into(),
        });
        self.ack(lease.into(), outcome).await
    }

    /// Completes the attempt by handing its work on to `canvas` (Celery's `self.replace`): the
    /// broker creates the canvas's tasks, and the task is WAITING until their result is in,
    /// then ends as they did, with their result (see `AckRequest.replace` in `tasks.proto`).
    /// Safe to repeat if the reply was lost. Returns the task's new state.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming the part of the canvas that is wrong,
    /// else as [`Client::ack_success`].
    pub async fn ack_replace<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        canvas: impl Into<crate::Canvas>,
    ) -> Result<TaskState, ClientError> {
        let outcome = v1::ack_request::Outcome::Replace(canvas.into().into_proto());
        self.ack(lease.into(), outcome).await
    }

    /// Completes the attempt with `value` encoded as JSON: the task SUCCEEDS.
    ///
    /// # Errors
    ///
    /// [`ClientError::Json`] if `value` cannot be serialized, else as [`Client::ack_success`].
    pub async fn ack_json<'a, T: Serialize + ?Sized>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        value: &T,
    ) -> Result<TaskState, ClientError> {
        let bytes = serde_json::to_vec(value)?;
        self.ack_success(lease, bytes, JSON_CONTENT_TYPE).await
    }

    /// Completes the attempt with an error. The task is RETRYING (after `retry_in`, or the
    /// backoff) while retries are left, else FAILED into the dead-letter set; `fatal` fails it
    /// at once. Returns the task's new state.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` for an empty message, else as
    /// [`Client::ack_success`].
    pub async fn ack_failure<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        kind: impl Into<String>,
        message: impl Into<String>,
        fatal: bool,
        retry_in: Option<Duration>,
    ) -> Result<TaskState, ClientError> {
        let outcome = v1::ack_request::Outcome::Failure(v1::Failure {
            error: Some(v1::Error {
                kind: kind.into(),
                message: message.into(),
            }),
            fatal,
            retry_in_ms: retry_in.map_or(0, duration_ms),
            ..v1::Failure::default()
        });
        self.ack(lease.into(), outcome).await
    }

    /// Gives the task back without using up a retry: it is READY again after `delay`
    /// (SCHEDULED until then). Returns the task's new state.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `FAILED_PRECONDITION` for a stale lease, `NOT_FOUND` for an
    /// unknown task.
    pub async fn nack_requeue<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        delay: Duration,
    ) -> Result<TaskState, ClientError> {
        let action = v1::nack_request::Action::Requeue(v1::Requeue {
            delay_ms: duration_ms(delay),
            at_unix_ms: 0,
        });
        self.nack(lease.into(), action).await
    }

    /// Puts the task back to wait until `at` (SCHEDULED until then; a past time means now),
    /// without counting a failure. Returns the new state.
    ///
    /// # Errors
    ///
    /// As [`Client::nack_requeue`].
    pub async fn nack_requeue_at<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        at: std::time::SystemTime,
    ) -> Result<TaskState, ClientError> {
        let at_unix_ms = at.duration_since(std::time::UNIX_EPOCH).map_or(1, |d| {
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
        });
        let action = v1::nack_request::Action::Requeue(v1::Requeue {
            delay_ms: 0,
            at_unix_ms,
        });
        self.nack(lease.into(), action).await
    }

    /// Fails the task now, into the dead-letter set, keeping `reason`. Returns the new state.
    ///
    /// # Errors
    ///
    /// As [`Client::nack_requeue`].
    pub async fn nack_reject<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        reason: impl Into<String>,
    ) -> Result<TaskState, ClientError> {
        let action = v1::nack_request::Action::Reject(v1::Reject {
            reason: reason.into(),
        });
        self.nack(lease.into(), action).await
    }

    /// Moves the lease deadline to now + `duration` and returns the new deadline.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `FAILED_PRECONDITION` if the lease is lost (stop the attempt
    /// without acknowledging it), `INVALID_ARGUMENT` for a duration outside 100 ms to 12 h.
    /// [`ClientError::Protocol`] if the broker answers no deadline.
    pub async fn extend_lease<'a>(
        &self,
        lease: impl Into<LeaseRef<'a>>,
        duration: Duration,
    ) -> Result<SystemTime, ClientError> {
        let lease = lease.into();
        let request = v1::ExtendLeaseRequest {
            task_id: lease.task_id.to_owned(),
            lease_id: lease.lease_id,
            lease_duration_ms: duration_ms(duration),
        };
        let response = self.tasks().extend_lease(request).await?.into_inner();
        time_from_unix_ms(response.lease_deadline_unix_ms)
            .ok_or_else(|| ClientError::Protocol("ExtendLease answered no deadline".into()))
    }

    async fn ack(
        &self,
        lease: LeaseRef<'_>,
        outcome: v1::ack_request::Outcome,
    ) -> Result<TaskState, ClientError> {
        let request = v1::AckRequest {
            task_id: lease.task_id.to_owned(),
            lease_id: lease.lease_id,
            outcome: Some(outcome),
            add: Vec::new(),
        };
        let response = self.tasks().ack(request).await?.into_inner();
        TaskState::from_wire(response.state)
    }

    async fn nack(
        &self,
        lease: LeaseRef<'_>,
        action: v1::nack_request::Action,
    ) -> Result<TaskState, ClientError> {
        let request = v1::NackRequest {
            task_id: lease.task_id.to_owned(),
            lease_id: lease.lease_id,
            action: Some(action),
        };
        let response = self.tasks().nack(request).await?.into_inner();
        TaskState::from_wire(response.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_lease_one_task_from_the_default_queue_without_waiting() {
        let options = LeaseOptions::default();
        assert_eq!(options.queues, ["default"]);
        assert_eq!((options.max_tasks, options.wait), (1, Duration::ZERO));
        assert_eq!(LeaseOptions::new(["a", "b"]).queues, ["a", "b"]);
    }

    #[test]
    fn a_leased_task_names_its_attempt_and_decodes_its_payload() {
        let task = LeasedTask::from_wire(v1::LeasedTask {
            task_id: "t-1".into(),
            name: "email.send".into(),
            payload: bytes::Bytes::from_static(br#"{"to":"ada"}"#),
            content_type: "application/json".into(),
            lease_id: 42,
            attempt: 1,
            lease_deadline_unix_ms: 1_700_000_030_000,
            ..v1::LeasedTask::default()
        });
        assert_eq!(
            LeaseRef::from(&task),
            LeaseRef {
                task_id: "t-1",
                lease_id: 42
            }
        );
        assert!(task.lease_deadline.is_some());
        assert_eq!(task.enqueued_at, None, "0 on the wire is not set");
        let payload: serde_json::Value = task.json().expect("JSON payload");
        assert_eq!(payload["to"], "ada");
    }
}
