//! Connected workers: [`Client::list_workers`] and [`Client::control_workers`].

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;

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
    /// Attempts it completed (acked) in this session.
    pub processed: u64,
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
                    processed: w.processed,
                }
            })
            .collect())
    }
}

/// A command for workers (see [`Client::control_workers`]). The broker refuses a malformed
/// one with `INVALID_ARGUMENT`; what only a worker can judge it answers with `ok == false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerCommand {
    /// Answer at once, with the worker's facts (pid, pool, concurrency, …).
    Ping,
    /// Shut down warm, as on SIGTERM.
    Shutdown,
    /// New time limits for a task type, for attempts that start from now on (Celery's
    /// `time_limit`). A task sent with its own limits keeps them.
    TimeLimit {
        /// The task name.
        task_name: String,
        /// The hard limit: the attempt is stopped and fails. 1 ms to 7 days.
        hard: std::time::Duration,
        /// The soft limit, at most `hard`; `None` leaves the worker's default.
        soft: Option<std::time::Duration>,
    },
    /// Take tasks from one more queue.
    AddConsumer(String),
    /// Take no new task from a queue; tasks of it the worker already holds still run.
    CancelConsumer(String),
    /// Run this many more tasks at once (1 to 1024; the pool is capped at 1024 slots).
    PoolGrow(u32),
    /// Run this many fewer tasks at once (1 to 1024; the pool keeps at least 1 slot); running
    /// tasks finish.
    PoolShrink(u32),
    /// A command the worker's code registered (`WorkerBuilder::control_command`).
    Custom {
        /// Its name.
        name: String,
        /// Its arguments: at most 64, keys 1 to 128 bytes, values at most 4 KiB.
        args: std::collections::BTreeMap<String, String>,
    },
}

impl WorkerCommand {
    /// The wire form.
    fn into_wire(self) -> v1::WorkerCommand {
        use v1::worker_command::Kind;
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let kind = match self {
            Self::Ping => Kind::Ping(v1::Ping {}),
            Self::Shutdown => Kind::Shutdown(v1::Shutdown {}),
            Self::TimeLimit {
                task_name,
                hard,
                soft,
            } => Kind::TimeLimit(v1::TimeLimit {
                task_name,
                hard_ms: ms(hard),
                soft_ms: soft.map_or(0, ms),
            }),
            Self::AddConsumer(queue) => Kind::AddConsumer(v1::AddConsumer { queue }),
            Self::CancelConsumer(queue) => Kind::CancelConsumer(v1::CancelConsumer { queue }),
            Self::PoolGrow(slots) => Kind::PoolGrow(v1::PoolGrow { slots }),
            Self::PoolShrink(slots) => Kind::PoolShrink(v1::PoolShrink { slots }),
            Self::Custom { name, args } => Kind::Custom(v1::CustomCommand {
                name,
                args: args.into_iter().collect(),
            }),
        };
        v1::WorkerCommand { kind: Some(kind) }
    }
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
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` for a timeout over 60 s, a bad id or a
    /// malformed command (an empty or oversize name, a zero count or duration).
    pub async fn control_workers(
        &self,
        worker_ids: &[&str],
        command: WorkerCommand,
        timeout: std::time::Duration,
    ) -> Result<Vec<WorkerReply>, ClientError> {
        let request = v1::ControlWorkersRequest {
            worker_ids: worker_ids.iter().map(|&id| id.to_owned()).collect(),
            command: Some(command.into_wire()),
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
