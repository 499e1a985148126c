//! The task as the engine sees it: its state, options and the compact record kept in memory, and
//! [`NewTask`], a task as it is enqueued.
//!
//! Payloads are not here: they live only in the store and are read when a task is leased, so a
//! million waiting tasks cost memory for their metadata alone. Headers are kept (in the cold
//! part, for tasks that have any) because keyed limits read them when a lease is granted.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::canvas::{FlowNode, InputShape, NewFlow};
use super::ctx::When;
use super::task_id::TaskId;

/// Where a task is in its lifecycle (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Waiting for its ETA; not leasable yet.
    Scheduled,
    /// In its queue, leasable now.
    Ready,
    /// Held by a worker under a lease.
    Leased,
    /// A failed attempt waits out its retry backoff.
    Retrying,
    /// Terminal: an attempt succeeded.
    Succeeded,
    /// Terminal: no retries left or rejected; kept in the dead-letter set.
    Failed,
    /// Terminal: revoked before it completed.
    Revoked,
    /// Terminal: its expiry time passed before it completed.
    Expired,
    /// A workflow step that waits for the results of the steps before it (see `canvas.rs`).
    Waiting,
}

impl TaskState {
    /// Whether the task has finished for good.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Revoked | Self::Expired
        )
    }

    /// Whether the task waits in the broker (ready, scheduled, retrying, or waiting for the
    /// steps before it in a workflow).
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            Self::Ready | Self::Scheduled | Self::Retrying | Self::Waiting
        )
    }

    /// The state's name in lower case, as logs and reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Ready => "ready",
            Self::Leased => "leased",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Waiting => "waiting",
        }
    }

    /// The stable one-byte code used in stored records.
    pub fn code(self) -> u8 {
        match self {
            Self::Scheduled => 1,
            Self::Ready => 2,
            Self::Leased => 3,
            Self::Retrying => 4,
            Self::Succeeded => 5,
            Self::Failed => 6,
            Self::Revoked => 7,
            Self::Expired => 8,
            Self::Waiting => 9,
        }
    }

    /// The state for a stored code, if the code is known.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Scheduled,
            2 => Self::Ready,
            3 => Self::Leased,
            4 => Self::Retrying,
            5 => Self::Succeeded,
            6 => Self::Failed,
            7 => Self::Revoked,
            8 => Self::Expired,
            9 => Self::Waiting,
            _ => return None,
        })
    }
}

/// Per-task options, fixed at enqueue. Milliseconds fit `u32` (the service bounds them to 7
/// days), which keeps every task's record small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOptions {
    /// Failed attempts retried before the task fails.
    pub max_retries: u32,
    /// Base of the exponential retry backoff, in ms.
    pub retry_backoff_ms: u32,
    /// Cap of the retry backoff, in ms.
    pub retry_backoff_max_ms: u32,
    /// Lease length when the lease request does not say, in ms.
    pub lease_ms: u32,
    /// Lost attempts retried before the task fails.
    pub max_lost_attempts: u32,
}

/// Default retries of a failed task (as Celery's `max_retries`).
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default base of the retry backoff.
pub const DEFAULT_RETRY_BACKOFF_MS: u32 = 1_000;
/// Default cap of the retry backoff (10 minutes).
pub const DEFAULT_RETRY_BACKOFF_MAX_MS: u32 = 600_000;
/// Default lease length.
pub const DEFAULT_LEASE_MS: u32 = 30_000;
/// Default lost attempts retried before a task fails.
pub const DEFAULT_MAX_LOST_ATTEMPTS: u32 = 3;

impl Default for TaskOptions {
    fn default() -> Self {
        Self {
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
            retry_backoff_max_ms: DEFAULT_RETRY_BACKOFF_MAX_MS,
            lease_ms: DEFAULT_LEASE_MS,
            max_lost_attempts: DEFAULT_MAX_LOST_ATTEMPTS,
        }
    }
}

/// What a task carries that the engine never looks at; stored once, read at lease time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskBody {
    /// The opaque arguments (shared, not copied, on their way from the wire to the store).
    pub payload: Bytes,
    /// Media type of the payload.
    pub content_type: String,
    /// Free-form headers, as given at enqueue. The engine moves them into the task's metadata
    /// ([`TaskCold::headers`]), so a stored task body has none.
    pub headers: BTreeMap<String, String>,
    /// Soft time limit per attempt, ms, enforced by the worker; 0 = none.
    pub soft_time_limit_ms: u64,
    /// For a workflow step: how the results of the steps before it make its input (see
    /// `canvas::assemble`).
    pub input: Option<InputShape>,
    /// Hard time limit per attempt, ms, enforced by the worker; 0 = none.
    pub time_limit_ms: u64,
}

/// Why an attempt failed or a task was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// An error type or status name.
    pub kind: String,
    /// What went wrong, for humans.
    pub message: String,
}

/// A task's return value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskResult {
    /// The opaque value.
    pub value: Bytes,
    /// Media type of the value.
    pub content_type: String,
}

/// The lease that fences the current attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Fencing token, unique across restarts.
    pub id: u64,
    /// When the lease ends, unix ms.
    pub deadline_ms: u64,
}

/// Everything the engine keeps in memory about one task: the fields every waiting task needs,
/// in 128 bytes, and the rest in [`TaskCold`], allocated only for tasks that have any of it (a
/// started attempt, an error, an expiry, a unique key). A million ready tasks then cost a
/// million small records, not a million full ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskMeta {
    /// Internal key: unique, ordered by enqueue; also the store key.
    pub key: u64,
    /// The user-visible id.
    pub id: TaskId,
    /// The task type.
    pub name: Arc<str>,
    /// The queue it belongs to.
    pub queue: Arc<str>,
    /// Position in the ready order (smaller first within a priority).
    pub ready_seq: u64,
    /// When a SCHEDULED or RETRYING task becomes ready, or when a LEASED task's lease ends,
    /// unix ms; 0 otherwise.
    pub due_ms: u64,
    /// Enqueue time, unix ms.
    pub enqueued_ms: u64,
    /// Options fixed at enqueue.
    pub options: TaskOptions,
    /// Attempts started so far.
    pub attempts: u32,
    /// Size of the payload in bytes.
    pub payload_size: u32,
    /// 0 (lowest) to 9.
    pub priority: u8,
    /// Current state.
    pub state: TaskState,
    /// Fields most waiting tasks do not have.
    pub cold: Option<Box<TaskCold>>,
}

/// The less common part of a task's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCold {
    /// Failed attempts that used up a retry.
    pub retries_used: u32,
    /// Attempts lost to a dead worker, a killed process or a lease that ran out.
    pub lost_attempts: u32,
    /// The task is not started after this time (unix ms).
    pub expires_at_ms: Option<u64>,
    /// At most one live task per (queue, key).
    pub unique_key: Option<Arc<str>>,
    /// The current lease when LEASED; 0 otherwise.
    pub lease_id: u64,
    /// The current lease is a prefetch lease: pushed to a worker, not started. Not stored:
    /// leases do not survive a restart.
    pub prefetched: bool,
    /// The lease of the attempt that completed last (acked or nacked), so a repeated ack can be
    /// recognised; 0 if none.
    pub last_lease_id: u64,
    /// Start of the last attempt, unix ms; 0 if none.
    pub started_ms: u64,
    /// When the current lease's task became READY (its enqueue, or its ETA or retry time),
    /// unix ms, for the wait until it started. Not stored: leases do not survive a restart.
    pub ready_ms: u64,
    /// When the task became terminal, unix ms; 0 if not.
    pub finished_ms: u64,
    /// When a terminal record is deleted, unix ms; 0 if never (dead letters).
    pub purge_at_ms: u64,
    /// The last failure.
    pub error: Option<TaskError>,
    /// Free-form headers, sorted by name.
    pub headers: Vec<(Arc<str>, Arc<str>)>,
    /// Its place in a workflow, for a workflow's step.
    pub flow: Option<Box<FlowNode>>,
}

static NO_COLD: TaskCold = TaskCold {
    retries_used: 0,
    lost_attempts: 0,
    expires_at_ms: None,
    unique_key: None,
    lease_id: 0,
    prefetched: false,
    last_lease_id: 0,
    started_ms: 0,
    ready_ms: 0,
    finished_ms: 0,
    purge_at_ms: 0,
    error: None,
    headers: Vec::new(),
    flow: None,
};

impl TaskMeta {
    /// The cold part, or an all-default one.
    pub fn cold(&self) -> &TaskCold {
        self.cold.as_deref().unwrap_or(&NO_COLD)
    }

    /// The cold part for writing, allocated on first use.
    pub fn cold_mut(&mut self) -> &mut TaskCold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// Since when the task has waited to run (its due time, else its enqueue), unix ms: what
    /// priority aging counts from, in the broker's lease order and in a worker's buffer alike.
    pub fn ready_since_ms(&self) -> u64 {
        if self.due_ms > 0 {
            self.due_ms
        } else {
            self.enqueued_ms
        }
    }

    /// The current lease, when LEASED.
    pub fn lease(&self) -> Option<Lease> {
        let lease_id = self.cold().lease_id;
        (self.state == TaskState::Leased && lease_id != 0).then_some(Lease {
            id: lease_id,
            deadline_ms: self.due_ms,
        })
    }

    /// Makes `lease` the current lease (the caller sets the LEASED state).
    pub fn set_lease(&mut self, lease: Lease) {
        self.cold_mut().lease_id = lease.id;
        self.due_ms = lease.deadline_ms;
    }

    /// Failed attempts that used up a retry.
    pub fn retries_used(&self) -> u32 {
        self.cold().retries_used
    }

    /// When the task expires, unix ms.
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.cold().expires_at_ms
    }

    /// The unique key, if any.
    pub fn unique_key(&self) -> Option<&Arc<str>> {
        self.cold().unique_key.as_ref()
    }

    /// The last failure, if any.
    pub fn error(&self) -> Option<&TaskError> {
        self.cold().error.as_ref()
    }

    /// The value of header `name`, if the task has it.
    pub fn header(&self, name: &str) -> Option<&Arc<str>> {
        let headers = &self.cold().headers;
        headers
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .and_then(|i| headers.get(i))
            .map(|(_, value)| value)
    }
}

/// A validated task to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Client-supplied or broker-generated id.
    pub id: TaskId,
    /// The task type.
    pub name: String,
    /// The queue.
    pub queue: String,
    /// 0 to 9.
    pub priority: u8,
    /// Optional uniqueness key.
    pub unique_key: Option<String>,
    /// Options; `expires_at_ms` is filled from `expires`.
    pub options: TaskOptions,
    /// When the task expires, if it does.
    pub expires: Option<When>,
    /// When the task becomes ready, if not now.
    pub eta: Option<When>,
    /// The bytes the engine does not look at.
    pub body: TaskBody,
    /// For a workflow's step: what it waits for and where its result goes.
    pub flow: Option<NewFlow>,
}
