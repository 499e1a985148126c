//! The messages into and out of the engine: every durable state change is a [`Command`], applied
//! with a [`Ctx`](super::Ctx) and answered with an [`Outcome`].

use std::sync::Arc;

use super::ctx::When;
use super::events::Event;
use super::limits::{Limit, LimitInfo, LimitKey};
use super::revocations::RevokeRule;
use super::schedules::Schedule;
use super::task::{NewTask, TaskBody, TaskError, TaskMeta, TaskResult, TaskState};
use super::task_id::TaskId;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// The attempt succeeded.
    Success(TaskResult),
    /// The attempt failed.
    Failure {
        /// What went wrong.
        error: TaskError,
        /// Fail now, whatever retries are left.
        fatal: bool,
        /// Retry then instead of after the backoff.
        retry_at: Option<When>,
        /// The attempt was lost (its process died), not failed by the task: it counts against
        /// the lost-attempt budget instead of the retries.
        lost: bool,
    },
    /// The attempt handed work on (see `canvas/graft.rs`): it succeeded with `result` and
    /// added the graft's tasks to its workflow, or (`result` is `None`) it replaced itself
    /// with them and ends as they do.
    Graft {
        /// Its result; `None` for a replacement.
        result: Option<TaskResult>,
        /// The work handed on.
        graft: Box<super::canvas::NewGraft>,
    },
}

/// What a nack does with the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NackAction {
    /// Ready again after this many ms.
    Requeue {
        /// When the task is ready again.
        at: When,
    },
    /// Fail into the dead-letter set.
    Reject {
        /// Why.
        reason: String,
    },
}

/// A time-driven transition, issued by the broker's drivers when a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// SCHEDULED and RETRYING tasks whose due time passed become READY.
    Due,
    /// Leases past their deadline end; the task is READY again.
    Lease,
    /// Waiting tasks past their `expires` become EXPIRED.
    Expiry,
    /// Terminal records past their result TTL are deleted.
    Purge,
    /// Schedules whose next slot came fire.
    Schedule,
    /// Rate-limit tokens came for tasks that waited for them: their queues look again.
    Limit,
}

impl Timer {
    /// Every timer, for the broker to start one driver each.
    pub const ALL: [Timer; 6] = [
        Timer::Due,
        Timer::Lease,
        Timer::Expiry,
        Timer::Purge,
        Timer::Schedule,
        Timer::Limit,
    ];

    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::Due => 1,
            Self::Lease => 2,
            Self::Expiry => 4,
            Self::Purge => 8,
            Self::Schedule => 16,
            Self::Limit => 32,
        }
    }
}

/// A durable state change, applied by `Engine::apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create tasks (each accepted or refused on its own).
    Enqueue(Vec<NewTask>),
    /// Create a workflow: its tasks (each with its flow links) and itself, all or nothing.
    EnqueueWorkflow {
        /// Its id.
        id: TaskId,
        /// Its shape, for readers (opaque to the engine).
        tree: bytes::Bytes,
        /// Its tasks, in canvas order.
        tasks: Vec<NewTask>,
    },
    /// Lease up to `max` ready tasks from `queues`, in order.
    Lease {
        /// Queues in the order to try them.
        queues: Vec<String>,
        /// Most tasks to lease.
        max: usize,
        /// Lease length; each task's own default when `None`.
        lease_ms: Option<u64>,
        /// Prefetch leases (pushed to a session, not started): when one runs out, the task
        /// is READY again without the attempt counting, lost or otherwise. An extension marks
        /// the attempt started.
        prefetch: bool,
        /// The worker that asked, for the events.
        worker: Option<Arc<str>>,
    },
    /// Complete an attempt.
    Ack {
        /// Task id.
        id: String,
        /// The lease that fences the attempt.
        lease_id: u64,
        /// How it ended.
        outcome: AckOutcome,
    },
    /// Complete many attempts, each as `Ack` would, each accepted or refused on its own.
    AckMany(Vec<(String, u64, AckOutcome)>),
    /// Start pushed attempts: (task id, lease id, running lease length in ms). Each prefetch
    /// lease becomes a running lease; a task past its expiry is refused and expires.
    Start(Vec<(String, u64, u64)>),
    /// Give an attempt back.
    Nack {
        /// Task id.
        id: String,
        /// The lease that fences the attempt.
        lease_id: u64,
        /// Requeue or reject.
        action: NackAction,
    },
    /// Move a lease's deadline.
    Extend {
        /// Task id.
        id: String,
        /// The lease to extend.
        lease_id: u64,
        /// New deadline is now + this.
        lease_ms: u64,
    },
    /// Revoke tasks by id and by header value.
    Revoke {
        /// Task ids; one not known yet is remembered, and refused when it arrives.
        ids: Vec<String>,
        /// Header (name, value) pairs: every live task with one is revoked, and tasks that
        /// arrive with one are refused.
        headers: Vec<(String, String)>,
        /// How long unknown ids and headers are remembered, ms.
        remember_ms: u64,
    },
    /// Give leases back without completing them (a worker session ended). Each entry is
    /// (task id, lease id, whether the attempt started); an unstarted one does not count as an
    /// attempt, a started one is a lost attempt with `cause`. Leases that are no longer current
    /// are skipped.
    Release {
        /// The leases.
        leases: Vec<(String, u64, bool)>,
        /// Why started attempts were lost, for the task's error.
        cause: String,
    },
    /// Delete the waiting tasks of a queue, or its dead letters.
    Purge {
        /// The queue.
        queue: String,
        /// Purge dead letters instead of waiting tasks.
        dead_letters: bool,
    },
    /// Put dead letters back to READY.
    Replay {
        /// The queue.
        queue: String,
        /// Only these ids; all when empty.
        ids: Vec<String>,
        /// At most this many.
        limit: usize,
    },
    /// Create a schedule, or replace the one of the same name (keeping when it last fired).
    PutSchedule(Box<Schedule>),
    /// Delete a schedule by name.
    DeleteSchedule(String),
    /// Set a limit of a task name or queue, whole or per header value; `None` removes it.
    SetLimit {
        /// Which limit.
        key: LimitKey,
        /// What it allows.
        limit: Option<Limit>,
    },
    /// Pause or resume a schedule by name.
    PauseSchedule {
        /// The schedule.
        name: String,
        /// Pause (true) or resume (false).
        paused: bool,
    },
    /// Pause or resume a queue.
    PauseQueue {
        /// The queue.
        queue: String,
        /// Pause (true) or resume (false).
        paused: bool,
    },
    /// After a restart: settle the workflow steps whose inputs were written but whose release
    /// or revoke was not (see `canvas`).
    SettleFlows,
    /// Record events that no task change makes (workers coming and going, queues paused):
    /// they are numbered and stored like any other.
    Record(Vec<Event>),
    /// Run a timer's transitions that are due at the command's time (at most `limit`).
    Tick {
        /// Which timer.
        timer: Timer,
        /// Most tasks to move in one command, so a backlog does not hold the engine for long.
        limit: usize,
    },
}

impl Command {
    /// How many sub-ids the command may take from its sequence number.
    pub fn width(&self) -> usize {
        match self {
            Self::Enqueue(tasks) => tasks.len(),
            Self::EnqueueWorkflow { tasks, .. } => tasks.len() + 1,
            Self::AckMany(acks) => acks.len(),
            Self::Release { leases, .. } => leases.len(),
            Self::Start(leases) => leases.len(),
            Self::Lease { max, .. } => *max,
            Self::Replay { limit, .. } => *limit,
            Self::Tick { limit, .. } => *limit,
            Self::Record(events) => events.len(),
            _ => 1,
        }
    }
}

/// What happened to one task of an enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new task was stored.
    Created {
        /// Its id.
        id: TaskId,
        /// Its state (READY or SCHEDULED).
        state: TaskState,
    },
    /// A task with this id or unique key already existed; nothing was stored.
    Existing {
        /// The existing task's id.
        id: TaskId,
        /// Its state.
        state: TaskState,
    },
    /// The task was refused; nothing was stored.
    Refused(crate::engine::EngineError),
}

/// A task handed out under a lease (without its body, which the store holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The task as it is now (LEASED).
    pub meta: TaskMeta,
    /// The lease.
    pub lease_id: u64,
    /// Its deadline.
    pub deadline_ms: u64,
}

/// The command-specific answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// To `Enqueue`: one entry per task, in order.
    Enqueued(Vec<Enqueued>),
    /// To `Lease`.
    Leased(Vec<Granted>),
    /// To `Ack`, `Nack`: the state after.
    State(TaskState),
    /// To `AckMany`: per ack, the state after or why it was refused.
    AckedMany(Vec<Result<TaskState, crate::engine::EngineError>>),
    /// To `Extend`: the new deadline.
    Extended {
        /// Unix ms.
        deadline_ms: u64,
    },
    /// To `Revoke`: what it did.
    Revoked(RevokeReport),
    /// To `Start`: per lease, the running lease's deadline, or why the start was refused and
    /// the task's state now (`None`: gone).
    Started(Vec<Result<u64, (crate::engine::EngineError, Option<TaskState>)>>),
    /// To `Release`: how many leases were given back.
    Released(usize),
    /// To `Purge`: how many tasks were deleted.
    Purged(u64),
    /// To `Replay`: the ids put back.
    Replayed(Vec<TaskId>),
    /// To `Tick` and `SettleFlows`: how many tasks moved.
    Ticked(usize),
    /// To `PutSchedule` and `PauseSchedule`: the schedule as stored.
    Schedule(Box<Schedule>),
    /// To `DeleteSchedule`: whether it existed.
    Deleted(bool),
    /// To `SetLimit`: every limit now.
    Limits(Vec<LimitInfo>),
    /// To `PauseQueue`: whether it changed anything.
    Paused(bool),
}

/// A change for the store to make durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A new task: its metadata and body.
    Insert(Box<(TaskMeta, TaskBody)>),
    /// A task's metadata changed; `result` is set when it just succeeded.
    Update(Box<(TaskMeta, Option<TaskResult>)>),
    /// A task is gone.
    Delete(u64),
    /// A schedule was created or changed.
    PutSchedule(Box<Schedule>),
    /// A schedule is gone (by key).
    DeleteSchedule(u64),
    /// A limit was set (`None`: removed).
    PutLimit(LimitKey, Option<Limit>),
    /// A revocation is remembered until this time (`None`: forgotten).
    Revocation(RevokeRule, Option<u64>),
    /// A queue was paused (true) or resumed (false).
    PauseQueue(Arc<str>, bool),
    /// A workflow step's result fills an input slot of the step `key` (written before the
    /// step's own success; see `canvas.rs`).
    FlowInput {
        /// The step that waits for it.
        key: u64,
        /// Which input.
        slot: u32,
        /// The result, or the failure.
        input: super::canvas::Input,
    },
    /// A workflow step's inputs are gone (the step was deleted).
    DeleteFlowInputs(u64),
    /// A workflow was created.
    PutWorkflow(Box<super::workflows::Workflow>),
    /// A workflow is gone (its last task was deleted), by key; its grafts go with it.
    DeleteWorkflow(u64),
    /// Work a task handed on joined the workflow `workflow`.
    PutGraft {
        /// The workflow's key.
        workflow: u64,
        /// The graft.
        graft: Box<super::workflows::Graft>,
    },
    /// Writes that land together or not at all (one sled batch): an ack that hands work on,
    /// whose new tasks and own state must not be recovered one without the other.
    Atomic(Vec<Write>),
}

/// The result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The answer for the caller.
    pub reply: Reply,
    /// What the store must write, in order.
    pub writes: Vec<Write>,
    /// Whether the writes must be flushed before the caller is answered (lease bookkeeping
    /// need not be).
    pub durable: bool,
    /// Queues in which tasks became READY (their long-polling leasers should look again).
    pub ready_queues: Vec<Arc<str>>,
    /// Ids of tasks that became terminal (result waiters should look again).
    pub finished: Vec<TaskId>,
    /// Timers whose earliest deadline moved earlier (a bit set, one bit per timer).
    pub timers_moved: u8,
    /// Leases ended by something other than their holder (a revoke): the worker that holds
    /// each must drop or stop the task at once.
    pub stopped: Vec<StoppedLease>,
    /// What happened, for the event stream, in order.
    pub events: Vec<Event>,
}

/// A lease that ended while its worker held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedLease {
    /// The task.
    pub task_id: TaskId,
    /// The lease that ended.
    pub lease_id: u64,
    /// The task's state now (REVOKED, EXPIRED).
    pub state: TaskState,
}

/// What a revoke did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeReport {
    /// Per requested id, in order.
    pub ids: Vec<(String, Revocation)>,
    /// The live tasks revoked for their headers.
    pub matched: Vec<(TaskId, Revocation)>,
}

/// What a revoke did to one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// It waited in the broker (ready, scheduled or retrying); it is REVOKED and never runs.
    Waiting,
    /// It was pushed to a worker and had not started; it is REVOKED and the worker drops it.
    Prefetched,
    /// It was running; it is REVOKED and its worker is told to stop it.
    Running,
    /// It had already finished in this state; nothing changed.
    Finished(TaskState),
    /// The broker does not know the id: it is remembered, and the task refused if it
    /// arrives.
    Unknown,
}

impl Outcome {
    /// Records that a task became READY in `queue`.
    pub(crate) fn ready_in(&mut self, queue: &Arc<str>) {
        if !self
            .ready_queues
            .iter()
            .any(|q| Arc::ptr_eq(q, queue) || q == queue)
        {
            self.ready_queues.push(queue.clone());
        }
    }

    pub(crate) fn new(reply: Reply) -> Self {
        Self {
            reply,
            writes: Vec::new(),
            durable: true,
            ready_queues: Vec::new(),
            finished: Vec::new(),
            timers_moved: 0,
            stopped: Vec::new(),
            events: Vec::new(),
        }
    }
}
