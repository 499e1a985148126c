//! Pools run attempts: `async` (tokio tasks), `threads` (every handler on a blocking thread) and
//! `prefork` (child processes of the worker binary, recycled to contain leaks).
//!
//! The worker hands a pool a [`Job`] and gets back a [`CancellationToken`] that stops the attempt
//! (a lost lease, a cold shutdown); the pool reports every attempt that was not stopped as a
//! [`Done`] on the worker's channel.

mod attempt;
mod child;
mod frame;
mod job;
mod kind;
mod local;
mod prefork;
mod process;
mod spawn;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::WorkerError;
use crate::metrics::WorkerMetrics;
use crate::registry::Registry;
use crate::resources::Resources;
use local::LocalPool;
use prefork::Prefork;

pub use child::is_prefork_child;
pub(crate) use child::{child_socket, serve_parent};
pub(crate) use job::{Done, Ending, Job};
pub use kind::{ChildLimits, PoolKind};

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
    /// `done`; a prefork pool counts its children's replacements in `metrics`.
    pub(crate) async fn start(
        kind: PoolKind,
        slots: u32,
        limits: ChildLimits,
        registry: &Registry,
        resources: Resources,
        done: mpsc::UnboundedSender<Done>,
        metrics: WorkerMetrics,
    ) -> Result<Self, WorkerError> {
        Ok(match kind {
            PoolKind::Async => Self::Local(LocalPool::new(
                registry.clone(),
                false,
                slots,
                resources,
                done,
            )),
            PoolKind::Threads => Self::Local(LocalPool::new(
                registry.clone(),
                true,
                slots,
                resources,
                done,
            )),
            PoolKind::Prefork => Self::Prefork(Prefork::start(slots, limits, done, metrics).await?),
        })
    }

    /// Starts an attempt; cancelling the token stops it, and it is then not reported.
    pub(crate) fn submit(&self, job: Job) -> CancellationToken {
        match self {
            Self::Local(pool) => pool.submit(job),
            Self::Prefork(pool) => pool.submit(job),
        }
    }

    /// Adds `slots` slots. The session grants the broker credit for them; the pool makes room
    /// (permits, or child processes started in the background).
    pub(crate) fn grow(&self, slots: u32) {
        match self {
            Self::Local(pool) => pool.grow(slots),
            Self::Prefork(pool) => pool.grow(slots),
        }
    }

    /// Removes `slots` slots as their attempts finish: nothing running is stopped.
    pub(crate) fn shrink(&self, slots: u32) {
        match self {
            Self::Local(pool) => pool.shrink(slots),
            Self::Prefork(pool) => pool.shrink(slots),
        }
    }

    /// Stops the pool once its attempts are finished or stopped.
    pub(crate) async fn close(self) {
        if let Self::Prefork(pool) = self {
            pool.close().await;
        }
    }
}
