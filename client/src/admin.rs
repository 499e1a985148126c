//! Control and inspection: the `Admin` service (queue stats, task
//! listings, purge, dead-letter replay).

use std::time::SystemTime;

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::status::TaskFailure;
use crate::wire::{non_empty, time_from_unix_ms};

/// Task counts of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// The queue name.
    pub queue: String,
    /// Leasable now.
    pub ready: u64,
    /// Waiting for an ETA or countdown.
    pub scheduled: u64,
    /// Held by workers.
    pub leased: u64,
    /// Waiting out a retry backoff.
    pub retrying: u64,
    /// FAILED tasks in the dead-letter set.
    pub dead: u64,
    /// Workflow tasks waiting for the tasks before them.
    pub waiting: u64,
    /// The queue is paused: it leases nothing until resumed.
    pub paused: bool,
    /// When the longest-waiting READY task became ready (its enqueue, ETA or retry time);
    /// `None` when none is READY.
    pub oldest_ready_at: Option<std::time::SystemTime>,
}

impl From<v1::QueueStats> for QueueStats {
    fn from(stats: v1::QueueStats) -> Self {
        Self {
            queue: stats.queue,
            ready: stats.ready,
            scheduled: stats.scheduled,
            leased: stats.leased,
            retrying: stats.retrying,
            dead: stats.dead,
            waiting: stats.waiting,
            paused: stats.paused,
            oldest_ready_at: crate::wire::time_from_unix_ms(stats.oldest_ready_at_unix_ms),
        }
    }
}

/// One task in a listing ([`Client::list_tasks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    /// The task id.
    pub id: String,
    /// The task type.
    pub name: String,
    /// The queue.
    pub queue: String,
    /// The task's state.
    pub state: TaskState,
    /// 0 to 9.
    pub priority: u32,
    /// How many attempts were started.
    pub attempts: u32,
    /// When the task was enqueued.
    pub enqueued_at: Option<SystemTime>,
    /// SCHEDULED and RETRYING: when it becomes ready; LEASED: the lease deadline.
    pub due_at: Option<SystemTime>,
    /// The last failure, if any.
    pub error: Option<TaskFailure>,
    /// Size of the payload in bytes.
    pub payload_size: u64,
    /// For a READY task a limit held back: which (`rate limit task:NAME`).
    pub waiting_for: Option<String>,
    /// When that limit has its next token.
    pub waiting_until: Option<SystemTime>,
}

impl TaskSummary {
    fn from_wire(task: v1::TaskSummary) -> Result<Self, ClientError> {
        Ok(Self {
            state: TaskState::from_wire(task.state)?,
            id: task.task_id,
            name: task.name,
            queue: task.queue,
            priority: task.priority,
            attempts: task.attempts,
            enqueued_at: time_from_unix_ms(task.enqueued_at_unix_ms),
            due_at: time_from_unix_ms(task.due_at_unix_ms),
            error: task.error.map(TaskFailure::from),
            payload_size: task.payload_size,
            waiting_for: crate::wire::non_empty(task.waiting_for),
            waiting_until: time_from_unix_ms(task.waiting_until_unix_ms),
        })
    }
}

impl Client {
    /// Task counts of the named queues (an empty slice: every queue that holds tasks), sorted
    /// by queue name.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (e.g. a malformed queue name).
    pub async fn queue_stats(&self, queues: &[&str]) -> Result<Vec<QueueStats>, ClientError> {
        let request = v1::QueueStatsRequest {
            queues: queues.iter().map(|&q| q.to_owned()).collect(),
        };
        let response = self.admin().queue_stats(request).await?.into_inner();
        Ok(response.queues.into_iter().map(QueueStats::from).collect())
    }

    /// One page of the tasks of `queue` in `state`, in run order for waiting states and enqueue
    /// order otherwise. `page_size` 0 means the broker's default (100); pass the returned token
    /// back for the next page, `None` means this was the last page.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` for state UNKNOWN, a page size over 1000 or a
    /// bad token. [`ClientError::Protocol`] for a state this client does not know.
    pub async fn list_tasks(
        &self,
        queue: &str,
        state: TaskState,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<(Vec<TaskSummary>, Option<String>), ClientError> {
        let request = v1::ListTasksRequest {
            queue: queue.to_owned(),
            state: state.to_proto().into(),
            page_size,
            page_token: page_token.unwrap_or_default().to_owned(),
        };
        let response = self.admin().list_tasks(request).await?.into_inner();
        let tasks = response
            .tasks
            .into_iter()
            .map(TaskSummary::from_wire)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tasks, non_empty(response.next_page_token)))
    }

    /// Deletes every waiting task (ready, scheduled, retrying) of `queue`, or with
    /// `dead_letters` its dead letters instead. Leased tasks are left alone. Returns how many
    /// were deleted.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (e.g. a malformed queue name).
    pub async fn purge_queue(&self, queue: &str, dead_letters: bool) -> Result<u64, ClientError> {
        let request = v1::PurgeQueueRequest {
            queue: queue.to_owned(),
            dead_letters,
        };
        Ok(self.admin().purge_queue(request).await?.into_inner().purged)
    }

    /// Pauses `queue` (durably): it leases nothing, and its tasks waiting in workers' prefetch
    /// buffers do not start, until [`Client::resume_queue`]. Returns false if it already was.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (e.g. a malformed queue name).
    pub async fn pause_queue(&self, queue: &str) -> Result<bool, ClientError> {
        self.set_paused(queue, true).await
    }

    /// Resumes a paused `queue`. Returns false if it was not paused.
    ///
    /// # Errors
    ///
    /// As [`Client::pause_queue`].
    pub async fn resume_queue(&self, queue: &str) -> Result<bool, ClientError> {
        self.set_paused(queue, false).await
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<bool, ClientError> {
        let request = v1::PauseQueueRequest {
            queue: queue.to_owned(),
            paused,
        };
        Ok(self
            .admin()
            .pause_queue(request)
            .await?
            .into_inner()
            .changed)
    }

    /// Puts dead letters of `queue` back to READY with a fresh retry budget: the named ones
    /// (ids that are not dead letters of the queue are skipped), or all when `ids` is empty, at
    /// most `limit`. Returns the ids that were replayed.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (e.g. a malformed queue name).
    pub async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: &[&str],
        limit: Option<u32>,
    ) -> Result<Vec<String>, ClientError> {
        let request = v1::ReplayDeadLettersRequest {
            queue: queue.to_owned(),
            task_ids: ids.iter().map(|&id| id.to_owned()).collect(),
            limit: limit.unwrap_or(0),
        };
        let response = self
            .admin()
            .replay_dead_letters(request)
            .await?
            .into_inner();
        Ok(response.task_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_summary_keeps_its_failure_and_state() {
        let summary = TaskSummary::from_wire(v1::TaskSummary {
            task_id: "t-9".into(),
            state: v1::TaskState::Failed as i32,
            attempts: 4,
            error: Some(v1::Error {
                kind: "TimeoutError".into(),
                message: "took 31s".into(),
            }),
            ..v1::TaskSummary::default()
        })
        .expect("valid summary");
        assert_eq!(summary.state, TaskState::Failed);
        assert_eq!(
            summary.error.map(|e| e.kind).as_deref(),
            Some("TimeoutError")
        );
        assert_eq!(summary.due_at, None);
    }

    #[test]
    fn a_summary_in_an_unspecified_state_is_a_protocol_error() {
        let result = TaskSummary::from_wire(v1::TaskSummary::default());
        assert!(
            matches!(result, Err(ClientError::Protocol(_))),
            "{result:?}"
        );
    }
}
