//! Control and inspection: [`Client::revoke`] and the `Admin` service (queue stats, task
//! listings, purge, dead-letter replay).

use std::time::SystemTime;

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::status::TaskError;
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
    pub error: Option<TaskError>,
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
            error: task.error.map(TaskError::from),
            payload_size: task.payload_size,
            waiting_for: crate::wire::non_empty(task.waiting_for),
            waiting_until: time_from_unix_ms(task.waiting_until_unix_ms),
        })
    }
}

impl Client {
    /// Revokes tasks by id: waiting tasks never run, a leased task's lease is void. Returns
    /// each id with its state after the call: REVOKED, another terminal state if it had
    /// already finished, or UNKNOWN for an id the broker does not know.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (no ids, over 1000, malformed
    /// id), [`ClientError::Protocol`] for a state this client does not know.
    pub async fn revoke(&self, ids: &[&str]) -> Result<Vec<(String, TaskState)>, ClientError> {
        let request = v1::RevokeRequest {
            task_ids: ids.iter().map(|&id| id.to_owned()).collect(),
        };
        let response = self.tasks().revoke(request).await?.into_inner();
        response
            .outcomes
            .into_iter()
            .map(|outcome| Ok((outcome.task_id, TaskState::from_wire(outcome.state)?)))
            .collect()
    }

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

/// A worker connected to the broker (one open session), as [`Client::list_workers`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's id, stable across its reconnects.
    pub worker_id: String,
    /// Its host.
    pub hostname: String,
    /// Its process id.
    pub pid: u32,
    /// Queues it takes tasks from, in order.
    pub queues: Vec<String>,
    /// Task names it runs.
    pub task_names: Vec<String>,
    /// Its SDK and version.
    pub sdk_version: String,
    /// When its session opened.
    pub connected_at: Option<std::time::SystemTime>,
    /// When it last sent anything.
    pub last_seen: Option<std::time::SystemTime>,
    /// Tasks it runs now: (task id, lease id).
    pub running: Vec<(String, u64)>,
    /// Tasks pushed to it that have not started.
    pub prefetched: Vec<(String, u64)>,
}

impl Client {
    /// The workers connected now, sorted by worker id, with what each runs.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call.
    pub async fn list_workers(&self) -> Result<Vec<WorkerInfo>, ClientError> {
        let response = self
            .admin()
            .list_workers(v1::ListWorkersRequest {})
            .await?
            .into_inner();
        Ok(response
            .workers
            .into_iter()
            .map(|w| {
                let (running, prefetched): (Vec<_>, Vec<_>) =
                    w.tasks.into_iter().partition(|t| t.started);
                let pairs = |tasks: Vec<v1::WorkerTask>| {
                    tasks.into_iter().map(|t| (t.task_id, t.lease_id)).collect()
                };
                WorkerInfo {
                    worker_id: w.worker_id,
                    hostname: w.hostname,
                    pid: w.pid,
                    queues: w.queues,
                    task_names: w.task_names,
                    sdk_version: w.sdk_version,
                    connected_at: crate::wire::time_from_unix_ms(w.connected_at_unix_ms),
                    last_seen: crate::wire::time_from_unix_ms(w.last_seen_unix_ms),
                    running: pairs(running),
                    prefetched: pairs(prefetched),
                }
            })
            .collect())
    }
}

/// A command for workers (see [`Client::control_workers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCommand {
    /// Answer at once, with the worker's facts (pid, pool, concurrency, …).
    Ping,
    /// Shut down warm, as on SIGTERM.
    Shutdown,
}

/// One worker's answer to a control command, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerReply {
    /// The worker.
    pub worker_id: String,
    /// Whether it did what was asked.
    pub ok: bool,
    /// What it said (`pong`), or why there is no answer.
    pub message: String,
    /// Facts it reported, such as `pid`, `pool` and `concurrency`.
    pub details: std::collections::BTreeMap<String, String>,
    /// From the broker sending the command to the answer; `None` without an answer.
    pub latency: Option<std::time::Duration>,
}

impl Client {
    /// Sends `command` to the workers named (every connected worker when `worker_ids` is empty)
    /// and returns their answers, sorted by worker id, once all answered or `timeout` passed.
    /// A named worker that is not connected, or does not answer in time, gets a reply with
    /// `ok == false` saying so.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` for a timeout over 60 s or a bad id.
    pub async fn control_workers(
        &self,
        worker_ids: &[&str],
        command: WorkerCommand,
        timeout: std::time::Duration,
    ) -> Result<Vec<WorkerReply>, ClientError> {
        let kind = match command {
            WorkerCommand::Ping => v1::worker_command::Kind::Ping(v1::Ping {}),
            WorkerCommand::Shutdown => v1::worker_command::Kind::Shutdown(v1::Shutdown {}),
        };
        let request = v1::ControlWorkersRequest {
            worker_ids: worker_ids.iter().map(|&id| id.to_owned()).collect(),
            command: Some(v1::WorkerCommand { kind: Some(kind) }),
            timeout_ms: u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        };
        let response = self.admin().control_workers(request).await?.into_inner();
        Ok(response
            .replies
            .into_iter()
            .map(|r| WorkerReply {
                worker_id: r.worker_id,
                ok: r.ok,
                message: r.message,
                details: r.details.into_iter().collect(),
                latency: (r.latency_ms > 0).then(|| std::time::Duration::from_millis(r.latency_ms)),
            })
            .collect())
    }
}

/// A limit to set: a rate, a concurrency cap or both, on every task of a name or queue, for
/// the whole scope or for each value of a header.
///
/// ```
/// use stalk_client::Limit;
/// // At most 5 running tasks per tenant, and 100 a minute per tenant.
/// let limit = Limit::queue("mail").per("tenant").max_concurrency(5).rate("100/m");
/// assert_eq!(limit.scope, "queue:mail");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limit {
    /// `task:NAME` or `queue:NAME`.
    pub scope: String,
    /// A limit for each value of this header; `None`: one for the whole scope.
    pub per_header: Option<String>,
    /// Leases per period: `10/s`, `100/m`, `1000/h`, `5000/d`.
    pub rate: Option<String>,
    /// Leases granted at once after a quiet spell (0: one period's worth).
    pub burst: u32,
    /// Most leases held at once.
    pub max_concurrency: Option<u32>,
}

impl Limit {
    /// A limit on every task named `name`.
    pub fn task(name: impl Into<String>) -> Self {
        Self::scope(format!("task:{}", name.into()))
    }

    /// A limit on every task of `queue`.
    pub fn queue(queue: impl Into<String>) -> Self {
        Self::scope(format!("queue:{}", queue.into()))
    }

    /// A limit on `scope`, written `task:NAME` or `queue:NAME`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self {
            scope: scope.into(),
            ..Self::default()
        }
    }

    /// One limit for each value of `header` (tasks without it are not covered).
    #[must_use]
    pub fn per(mut self, header: impl Into<String>) -> Self {
        self.per_header = Some(header.into());
        self
    }

    /// Leases per period: `10/s`, `100/m`, `1000/h`, `5000/d`.
    #[must_use]
    pub fn rate(mut self, rate: impl Into<String>) -> Self {
        self.rate = Some(rate.into());
        self
    }

    /// Leases granted at once after a quiet spell.
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Most leases held at once.
    #[must_use]
    pub fn max_concurrency(mut self, max: u32) -> Self {
        self.max_concurrency = Some(max);
        self
    }
}

/// A limit as the broker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitInfo {
    /// `task:NAME` or `queue:NAME`.
    pub scope: String,
    /// The header of a keyed limit.
    pub per_header: Option<String>,
    /// Leases per period, e.g. `10/s`.
    pub rate: Option<String>,
    /// Leases granted at once after a quiet spell.
    pub burst: u32,
    /// Most leases held at once.
    pub max_concurrency: Option<u32>,
    /// Leases the cap counts now, over all header values.
    pub running: u64,
    /// READY tasks the limit holds back now.
    pub waiting: u64,
}

impl Client {
    /// Sets a limit, replacing the one with the same scope and header. It holds across every
    /// worker and is stored. Returns every limit.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming `scope`, `per_header`, `rate` or
    /// `burst`.
    pub async fn set_limit(&self, limit: &Limit) -> Result<Vec<LimitInfo>, ClientError> {
        let request = v1::SetLimitRequest {
            scope: limit.scope.clone(),
            per_header: limit.per_header.clone().unwrap_or_default(),
            rate: limit.rate.clone().unwrap_or_default(),
            burst: limit.burst,
            max_concurrency: limit.max_concurrency.unwrap_or(0),
        };
        let response = self.admin().set_limit(request).await?.into_inner();
        Ok(limits(response))
    }

    /// Removes the limit of `scope` (`task:NAME` or `queue:NAME`) and `per_header`. Returns
    /// every limit left.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming `scope` or `per_header`; `NOT_FOUND`
    /// if there is no such limit.
    pub async fn remove_limit(
        &self,
        scope: &str,
        per_header: Option<&str>,
    ) -> Result<Vec<LimitInfo>, ClientError> {
        let mut limit = Limit::scope(scope);
        limit.per_header = per_header.map(str::to_string);
        self.set_limit(&limit).await
    }

    /// Every limit, by scope and header.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call.
    pub async fn limits(&self) -> Result<Vec<LimitInfo>, ClientError> {
        let response = self
            .admin()
            .list_limits(v1::ListLimitsRequest {})
            .await?
            .into_inner();
        Ok(limits(response))
    }
}

fn limits(response: v1::LimitsResponse) -> Vec<LimitInfo> {
    let some = |text: String| (!text.is_empty()).then_some(text);
    response
        .limits
        .into_iter()
        .map(|l| LimitInfo {
            scope: l.scope,
            per_header: some(l.per_header),
            rate: some(l.rate),
            burst: l.burst,
            max_concurrency: (l.max_concurrency > 0).then_some(l.max_concurrency),
            running: l.running,
            waiting: l.waiting,
        })
        .collect()
}
