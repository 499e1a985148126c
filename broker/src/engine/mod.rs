//! The engine: queues, leases, retries, results and their deadlines, as a deterministic state
//! machine in plain Rust.
//!
//! Every durable change is a [`Command`] applied by [`Engine::apply`] with a [`Ctx`] that carries
//! the time and a sequence number; `apply` reads neither a clock nor a random source, and it
//! answers with an [`Outcome`] that lists the [`Write`]s the store must make durable. The engine
//! knows nothing of sled or gRPC, so unit tests drive it by hand, time included.
//!
//! It is not thread-safe by itself: the broker holds it behind one mutex and keeps every
//! critical section short (no I/O waits inside).
//!
//! # Layout
//! One concept per file; the [`Engine`] type and its read-only views are here.
//!
//! What the parts share:
//! - `command.rs`: the messages in and out: [`Command`], [`Outcome`], [`Reply`], [`Write`],
//!   [`Timer`].
//! - `ctx.rs`: a command's time and sequence number ([`Ctx`]), and [`When`].
//! - `task.rs`: a task in memory ([`TaskMeta`]), its states and options, and [`NewTask`].
//! - `task_id.rs` ([`TaskId`]), `error.rs` ([`EngineError`]), `queues.rs` (ready lanes, dead
//!   letters, counts), `timers.rs` (deadlines per [`Timer`]), `ids.rs` (the id index),
//!   `backoff.rs` (retry delays), `lease_order.rs` (the order READY tasks are leased in, for
//!   leases and listings alike).
//!
//! What the commands do:
//! - `apply.rs`: [`Engine::apply`], the dispatch from a [`Command`] to the files below.
//! - `enqueue.rs`: new tasks, deduplicated by id and unique key.
//! - `canvas.rs`: workflows: steps that wait for the results of the steps before them.
//! - `workflows.rs`: workflows as wholes ([`Workflow`]): ids, trees, revoking one.
//! - `lease.rs`: leasing (priorities, aging) and fencing; extending and releasing leases.
//! - `attempt.rs`: how an attempt ends: success, failure and retry, loss, nack.
//! - `start.rs`: starting pushed attempts (prefetch lease to running lease, expiry check).
//! - `revoke.rs`: revoking tasks by id and header; `revocations.rs`: the revocations
//!   remembered for tasks yet to arrive.
//! - `tick.rs`: time-driven transitions: ETA due, lease expired, task expired, result TTL.
//! - `transitions.rs`: every change of a task's state, and the indexes that follow it.
//! - `events.rs`: the [`Event`]s a command's changes make, for the event stream.
//! - `pauses.rs`: paused queues.
//! - `explain.rs`: a task as `explain` sees it ([`TaskView`]).
//! - `bulk.rs`: purging a queue, replaying dead letters.
//! - `listing.rs`: paging through a queue.
//! - `recover.rs`: the rebuild after a restart.
//! - [`limits`]: rate limits and concurrency caps: types, token bucket, state, admission at
//!   lease time, parked tasks, the registry.
//! - [`schedules`]: periodic schedules: type, recurrence, firing, the registry.

mod apply;
mod attempt;
mod backoff;
mod bulk;
mod canvas;
mod command;
mod ctx;
mod enqueue;
mod error;
mod events;
mod explain;
mod ids;
mod lease;
mod lease_order;
pub mod limits;
mod listing;
mod pauses;
mod queues;
mod recover;
mod revocations;
mod revoke;
pub mod schedules;
mod start;
mod task;
mod task_id;
mod tick;
mod timers;
mod transitions;
mod workflows;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub use canvas::{
    assemble, FlowMode, FlowNode, Input, InputShape, NewFlow, NewGraft, Replacement, Shape,
    Verdict, MAX_GRAFTED_WORKFLOW_TASKS,
};
pub use command::{
    AckOutcome, Command, Enqueued, Granted, NackAction, Outcome, Reply, Revocation, RevokeReport,
    StoppedLease, Timer, Write,
};
pub use ctx::{Ctx, When, SUB_BITS};
pub use error::EngineError;
pub use events::{Event, EventFilter, EventKind};
pub use explain::TaskView;
pub use lease_order::ReadyCursor;
pub use listing::{Page, PageToken};
pub use queues::Counts;
pub use revocations::{RevokeRule, MAX_REVOCATIONS};
pub use task::{
    Lease, NewTask, TaskBody, TaskCold, TaskError, TaskMeta, TaskOptions, TaskResult, TaskState,
    DEFAULT_LEASE_MS, DEFAULT_MAX_LOST_ATTEMPTS, DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF_MAX_MS,
    DEFAULT_RETRY_BACKOFF_MS,
};
pub use task_id::TaskId;
pub use tick::{LEASE_EXPIRED, PREFETCH_EXPIRED};
pub use workflows::{Graft, GraftView, Workflow};

/// The former path of [`schedules`], kept for callers outside the engine.
pub use self::schedules as schedule;

use queues::Queues;
use timers::Timers;

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// How long terminal records (other than dead letters) are kept, in ms.
    pub result_ttl_ms: u64,
    /// A waiting READY task counts one priority higher per this many ms it has waited, so low
    /// priorities never starve; 0 turns aging off.
    pub priority_aging_ms: u64,
}

/// The in-memory state of every task, and the indexes over it.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    /// Every known task by key (enqueue order). Boxed: B-tree nodes filled in key order stay
    /// half empty, which costs a pointer per empty slot here instead of a whole task.
    tasks: BTreeMap<u64, Box<TaskMeta>>,
    ids: ids::IdIndex,
    /// Live tasks by (queue, unique key).
    unique: HashMap<(Arc<str>, Arc<str>), u64>,
    /// Interned task names, so a million tasks of one type share one string.
    names: HashSet<Arc<str>>,
    queues: Queues,
    timers: Timers,
    /// Periodic schedules by key, and their keys by name.
    schedules: BTreeMap<u64, schedules::Schedule>,
    schedule_names: HashMap<String, u64>,
    /// Rate limits, checked when leases are granted.
    limits: limits::Limits,
    /// Revocations remembered for tasks yet to arrive.
    revocations: revocations::Revocations,
    /// Paused queues: they lease nothing, and their prefetched tasks do not start.
    paused: HashSet<Arc<str>>,
    /// Workflows by key, and their keys by id.
    workflows: BTreeMap<u64, workflows::Workflow>,
    workflow_ids: HashMap<Arc<str>, u64>,
    /// How far each workflow got (derived from its tasks).
    progress: HashMap<u64, workflows::Progress>,
    /// Replaced tasks to end, while one is being ended (see `canvas/steps.rs`).
    forwards: Option<Vec<u64>>,
}

impl Engine {
    /// An empty engine.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            tasks: BTreeMap::new(),
            ids: ids::IdIndex::default(),
            unique: HashMap::new(),
            names: HashSet::new(),
            queues: Queues::default(),
            timers: Timers::default(),
            schedules: BTreeMap::new(),
            schedule_names: HashMap::new(),
            limits: limits::Limits::default(),
            revocations: revocations::Revocations::default(),
            paused: HashSet::new(),
            workflows: BTreeMap::new(),
            workflow_ids: HashMap::new(),
            progress: HashMap::new(),
            forwards: None,
        }
    }

    /// The task with this id, if known.
    pub fn get(&self, id: &str) -> Option<&TaskMeta> {
        self.ids
            .get(id, &self.tasks)
            .and_then(|key| self.tasks.get(&key))
            .map(|m| &**m)
    }

    /// The task with this key, if known.
    pub fn get_key(&self, key: u64) -> Option<&TaskMeta> {
        self.tasks.get(&key).map(|m| &**m)
    }

    /// Counts per queue, sorted by name; queues with nothing in them are left out unless named.
    pub fn stats(&self, only: &[String]) -> Vec<(Arc<str>, Counts)> {
        let mut out: Vec<(Arc<str>, Counts)> = if only.is_empty() {
            self.queues
                .by_name
                .iter()
                .filter(|(_, q)| !q.counts.is_empty())
                .map(|(name, q)| (name.clone(), q.counts))
                .collect()
        } else {
            only.iter()
                .map(|name| {
                    let counts = self.queues.get(name).map(|q| q.counts).unwrap_or_default();
                    (Arc::from(name.as_str()), counts)
                })
                .collect()
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Per queue with READY tasks, when its longest-waiting one became ready (its ETA or retry
    /// time, else its enqueue), unix ms; sorted by queue. Tasks a limit holds back count.
    pub fn oldest_ready(&self) -> Vec<(Arc<str>, u64)> {
        let ready_since = |key: &u64, seq: u64| {
            self.tasks
                .get(key)
                .filter(|m| m.state == TaskState::Ready && m.ready_seq == seq)
                .map(|m| {
                    if m.due_ms > 0 {
                        m.due_ms
                    } else {
                        m.enqueued_ms
                    }
                })
        };
        let mut out: Vec<(Arc<str>, u64)> =
            self.queues
                .by_name
                .iter()
                .filter(|(_, q)| q.counts.ready > 0)
                .filter_map(|(name, q)| {
                    // Each lane is in ready order: its first live entry is its oldest.
                    let lanes = q.ready.iter().filter_map(|lane| {
                        lane.iter().find_map(|(seq, key)| ready_since(key, *seq))
                    });
                    let parked = (0..=9u8).filter_map(|p| {
                        q.parked
                            .range((p, 0, 0)..(p + 1, 0, 0))
                            .find_map(|(_, seq, key)| ready_since(key, *seq))
                    });
                    lanes.chain(parked).min().map(|at| (name.clone(), at))
                })
                .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The earliest deadline of a timer, unix ms.
    pub fn next_deadline(&self, timer: Timer) -> Option<u64> {
        self.timers.next(timer)
    }

    /// How many tasks the engine holds in memory (live and kept results).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the engine holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn intern_name(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        self.names.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests;
