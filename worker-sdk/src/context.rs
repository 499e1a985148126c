//! What a handler may know about the attempt it runs: the task's metadata ([`TaskMeta`]), its
//! soft time limit and the resources steps provide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use stalk_proto::v1 as pb;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::resources::Resources;

/// A task as the broker handed it to this worker, less its payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskMeta {
    /// The task's id.
    pub id: String,
    /// The task type, e.g. `email.send`.
    pub name: String,
    /// The queue it came from.
    pub queue: String,
    /// 1 for the first delivery, +1 for every redelivery.
    pub attempt: u32,
    /// 0..=9, 9 first.
    pub priority: u32,
    /// The headers the client sent with it.
    pub headers: HashMap<String, String>,
    /// The payload's media type, e.g. `application/json`; may be empty.
    pub content_type: String,
    /// Retries left after this attempt if it fails.
    pub retries_left: u32,
    /// When the task was first enqueued.
    pub enqueued_at: Option<SystemTime>,
    /// When it became ready to run: its ETA (or the end of its countdown) if it had one, a
    /// retry's due time, else when it was enqueued.
    pub ready_at: Option<SystemTime>,
    /// The time after which it must not start, if it has one (it started before it).
    pub expires_at: Option<SystemTime>,
}

impl TaskMeta {
    /// The metadata of a pushed task.
    pub(crate) fn from_leased(task: &pb::LeasedTask) -> Self {
        Self {
            id: task.task_id.clone(),
            name: task.name.clone(),
            queue: task.queue.clone(),
            attempt: task.attempt,
            priority: task.priority,
            headers: task.headers.clone(),
            content_type: task.content_type.clone(),
            retries_left: task.retries_left,
            enqueued_at: from_unix_ms(task.enqueued_at_unix_ms),
            ready_at: from_unix_ms(task.ready_since_unix_ms),
            expires_at: from_unix_ms(task.expires_at_unix_ms),
        }
    }

    /// As a pushed task without payload or lease, to send to a prefork child.
    pub(crate) fn to_leased(&self) -> pb::LeasedTask {
        pb::LeasedTask {
            task_id: self.id.clone(),
            name: self.name.clone(),
            queue: self.queue.clone(),
            attempt: self.attempt,
            priority: self.priority,
            headers: self.headers.clone(),
            content_type: self.content_type.clone(),
            retries_left: self.retries_left,
            enqueued_at_unix_ms: to_unix_ms(self.enqueued_at),
            ready_since_unix_ms: to_unix_ms(self.ready_at),
            expires_at_unix_ms: to_unix_ms(self.expires_at),
            ..pb::LeasedTask::default()
        }
    }
}

/// A time in ms since the Unix epoch; 0 (unset) and earlier are none.
fn from_unix_ms(ms: i64) -> Option<SystemTime> {
    let ms = u64::try_from(ms).ok().filter(|&ms| ms > 0)?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// The inverse of [`from_unix_ms`].
fn to_unix_ms(time: Option<SystemTime>) -> i64 {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The attempt a handler runs: its task's metadata, its soft time limit, and what steps
/// provide.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub(crate) meta: Arc<TaskMeta>,
    pub(crate) soft_limit: CancellationToken,
    pub(crate) resources: Resources,
    pub(crate) handoff: Arc<Mutex<Handoff>>,
}

/// Work a handler hands on with its attempt's ack (see [`TaskContext::replace`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Handoff {
    /// What replaces the task.
    pub(crate) replace: Option<pb::Canvas>,
    /// What joins its workflow.
    pub(crate) add: Vec<pb::Canvas>,
}

impl Handoff {
    /// Takes what a context's handler handed on, leaving nothing.
    pub(crate) fn take(shared: &Mutex<Handoff>) -> Self {
        std::mem::take(&mut *shared.lock())
    }

    /// Whether nothing was handed on.
    pub(crate) fn is_empty(&self) -> bool {
        self.replace.is_none() && self.add.is_empty()
    }
}

impl TaskContext {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.meta.id
    }

    /// 1 for the first delivery, +1 for every redelivery.
    pub fn attempt(&self) -> u32 {
        self.meta.attempt
    }

    /// Everything the broker said about the task: name, queue, priority, headers, times.
    pub fn meta(&self) -> &TaskMeta {
        &self.meta
    }

    /// The value of header `name`, if the client sent it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.meta.headers.get(name).map(String::as_str)
    }

    /// Resolves when the attempt passes its soft time limit (never, without one): select on it
    /// to clean up and return before the hard limit stops the attempt. On a thread, which the
    /// hard limit cannot stop, it also resolves at the hard limit.
    pub fn soft_limit_reached(&self) -> WaitForCancellationFuture<'_> {
        self.soft_limit.cancelled()
    }

    /// A value a worker step provided (see [`crate::StepContext::provide`]), such as a database
    /// pool; in a prefork child, one its own steps provided.
    pub fn resource<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.resources.get::<T>()
    }

    /// Whether the attempt has passed its soft time limit (or, on a thread, its hard one):
    /// blocking code polls this to stop in time.
    pub fn is_past_soft_limit(&self) -> bool {
        self.soft_limit.is_cancelled()
    }

    /// Hands this task's work on to `canvas` once the handler returns `Ok` (Celery's
    /// `self.replace`): the value it returns is then ignored, the broker creates the canvas's
    /// tasks in the same durable write as the ack, and the task ends as the canvas does, with
    /// its result (a group's as a list). Whatever waited for the task (the rest of a chain, a
    /// chord's body) gets that result. A later call replaces an earlier one; an attempt that
    /// fails hands nothing on. See `AckRequest.replace` in `tasks.proto`.
    ///
    /// ```no_run
    /// # use stalk_worker::{TaskContext, TaskError};
    /// # use stalk_client::{group, Task};
    /// // Fan a batch out into one task per item; the task's result is their list.
    /// async fn split(items: Vec<u32>, ctx: TaskContext) -> Result<(), TaskError> {
    ///     let mut squares = Vec::new();
    ///     for item in items {
    ///         squares.push(Task::new("square").json(&[item])?);
    ///     }
    ///     ctx.replace(group(squares));
    ///     Ok(())
    /// }
    /// ```
    pub fn replace(&self, canvas: impl Into<stalk_client::Canvas>) {
        self.handoff.lock().replace = Some(canvas.into().into_proto());
    }

    /// Adds `canvas` to this task's workflow once the handler returns `Ok` (as Celery's
    /// `add_to_chord` adds work while a workflow runs): its tasks are created in the same
    /// durable write as the ack and run on their own. Nothing in the workflow waits for them
    /// (replace the task to make later steps wait), but the workflow is not finished until
    /// they are, and revoking it revokes them. A task in no workflow becomes one, of its own
    /// id. An attempt that fails adds nothing. See `AckRequest.add` in `tasks.proto`.
    pub fn add_to_workflow(&self, canvas: impl Into<stalk_client::Canvas>) {
        self.handoff.lock().add.push(canvas.into().into_proto());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_survives_the_trip_to_a_prefork_child() {
        let task = pb::LeasedTask {
            task_id: "t-1".into(),
            name: "email.send".into(),
            queue: "mail".into(),
            attempt: 2,
            priority: 7,
            headers: HashMap::from([("tenant".into(), "acme".into())]),
            content_type: "application/json".into(),
            retries_left: 3,
            enqueued_at_unix_ms: 1_700_000_000_000,
            ready_since_unix_ms: 1_700_000_060_000,
            ..pb::LeasedTask::default()
        };
        let meta = TaskMeta::from_leased(&task);
        assert_eq!(TaskMeta::from_leased(&meta.to_leased()), meta);
        assert_eq!(
            meta.ready_at,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_060_000))
        );
        assert_eq!(
            TaskMeta::from_leased(&pb::LeasedTask::default()).enqueued_at,
            None
        );
    }
}
