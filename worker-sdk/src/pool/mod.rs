//! Pools run attempts: `async` (tokio tasks), `threads` (every handler on a blocking thread) and
//! `prefork` (child processes of the worker binary, recycled to contain leaks).
//!
//! The worker hands a pool a [`Job`] and gets back a [`CancellationToken`] that stops the attempt
//! (a lost lease, a cold shutdown); the pool reports every attempt that was not stopped as a
//! [`Done`] on the worker's channel.

mod attempt;
mod child;
mod frame;
mod local;
mod prefork;
mod process;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{TaskError, WorkerError};
use crate::policy::RetryPolicy;
use crate::registry::{Registry, TimeLimits};
use crate::steps::Resources;

pub(crate) use child::{child_socket, serve_parent};
pub(crate) use local::LocalPool;
pub(crate) use prefork::Prefork;

/// Where a worker runs its attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolKind {
    /// Tokio tasks on the worker's runtime; blocking handlers on blocking threads. The default:
    /// the fastest, for I/O-bound async handlers.
    #[default]
    Async,
    /// Every handler on a thread of its own, so CPU-heavy or blocking code never stalls the
    /// runtime. A thread cannot be killed: past the hard time limit the attempt is reported as
    /// timed out while the thread runs on.
    Threads,
    /// One child process of the worker binary per slot, each running one task at a time. A
    /// child is killed at the hard time limit or memory limit and replaced after a number of
    /// tasks, past a memory limit or an age, so leaks and crashes stay contained.
    Prefork,
}

/// When a prefork child is replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildLimits {
    /// Replace a child after it ran this many tasks.
    pub max_tasks: Option<u32>,
    /// Replace a child after its current task once its RSS passes this many bytes.
    pub max_memory: Option<u64>,
    /// Kill a child at once when its RSS passes this many bytes; its attempt is lost.
    pub max_memory_hard: Option<u64>,
    /// Replace a child after its current task once it is this old.
    pub max_age: Option<Duration>,
}

/// Whether this process is a prefork child, started by a worker's pool to run its attempts.
/// A binary that does more than run one worker checks this first and, when it is a child, only
/// builds the same worker and runs it.
pub fn is_prefork_child() -> bool {
    child_socket().is_some()
}

/// One attempt to run.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) task_id: String,
    pub(crate) lease_id: u64,
    pub(crate) name: String,
    pub(crate) attempt: u32,
    pub(crate) payload: Vec<u8>,
    pub(crate) time_limits: TimeLimits,
    pub(crate) policy: RetryPolicy,
}

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The handler returned (or hit a time limit).
    Finished(Result<Vec<u8>, TaskError>),
    /// The process running it died or was killed for a limit: the cause.
    Lost(String),
}

/// A finished attempt.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) task_id: String,
    pub(crate) lease_id: u64,
    pub(crate) ending: Ending,
}

/// The error of an attempt stopped at its hard time limit.
pub(crate) fn time_limit_exceeded(limit: Duration) -> TaskError {
    TaskError::retry(
        "TimeLimitExceeded",
        format!("the attempt ran past its hard time limit of {limit:?} and was stopped"),
    )
}

/// A running pool.
#[derive(Debug)]
pub(crate) enum Pool {
    /// Async or threads.
    Local(LocalPool),
    /// Child processes.
    Prefork(Prefork),
}

impl Pool {
    /// Starts a pool of `kind` with `slots` slots; tasks see `resources`; attempts report on
    /// `done`.
    pub(crate) async fn start(
        kind: PoolKind,
        slots: u32,
        limits: ChildLimits,
        registry: &Registry,
        resources: Resources,
        done: mpsc::UnboundedSender<Done>,
    ) -> Result<Self, WorkerError> {
        Ok(match kind {
            PoolKind::Async => {
                Self::Local(LocalPool::new(registry.clone(), false, resources, done))
            }
            PoolKind::Threads => {
                Self::Local(LocalPool::new(registry.clone(), true, resources, done))
            }
            PoolKind::Prefork => Self::Prefork(Prefork::start(slots, limits, done).await?),
        })
    }

    /// Starts an attempt; cancelling the token stops it, and it is then not reported.
    pub(crate) fn submit(&self, job: Job) -> CancellationToken {
        match self {
            Self::Local(pool) => pool.submit(job),
            Self::Prefork(pool) => pool.submit(job),
        }
    }

    /// Stops the pool once its attempts are finished or stopped.
    pub(crate) async fn close(self) {
        if let Self::Prefork(pool) = self {
            pool.close().await;
        }
    }
}
