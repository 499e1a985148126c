//! The broker core: the engine behind one mutex, the store, group commit, the sequencer and the
//! long-poll waiters. It orders commands (stamping time and sequence), makes their writes
//! durable before answering, and wakes whoever waits on what changed.
//!
//! Callers use its typed methods, one per operation, each returning its own answer type:
//! [`Command`] stays the log entry (what a replicated broker will ship), and the one `match` on
//! the engine's [`Reply`](crate::engine::Reply) for each operation lives beside the method that
//! sent the command.
//!
//! # Layout
//! - `mod.rs`: [`Broker`]: open, apply a command, wait for durability, announce.
//! - `error.rs`: [`BrokerError`] and [`Failure`].
//! - `events.rs`: the event stream: numbering, sending live, retention, watchers.
//! - `event_log.rs`: events pending and stored; written before each flush.
//! - `failure.rs`: failing (writes refused, health NOT_SERVING) and reopening the store after a
//!   storage failure.
//! - `state.rs`: the state behind the engine lock, replaced whole when the store is reopened.
//! - `tasks.rs`: enqueue, lease, ack, nack, extend, revoke, release, results.
//! - `admin.rs`: purge, replay, schedules, limits, timers and the read-only views.

mod admin;
mod error;
mod event_log;
mod events;
mod failure;
mod state;
mod tasks;

pub use error::{chain, BrokerError, Failure};
pub(crate) use event_log::DRAIN_EVERY;
pub use events::{EventRetention, LiveBatch, WatchItem, WATCH_BATCH};
pub use tasks::{AckItem, AckResults, LeasedTask, StartResults, TaskStatus};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;

use self::state::{Applied, Core, FailState, Flush, Settings, Storage};
use crate::clock::Clock;
use crate::config::Durability;
use crate::engine::{
    Command, Ctx, EngineConfig, Outcome, StoppedLease, TaskState, Timer, SUB_BITS,
};
use crate::stats::BrokerStats;
use crate::store::{FreeSpace, Store};
use crate::waiters::{ReadySignals, ResultWaiters};

/// Sequence numbers reserved durably at a time; a restart skips what was left of a block.
const SEQ_BLOCK: u64 = 1 << 20;
/// Most transitions one timer command moves, so a backlog never holds the engine for long.
const TICK_BATCH: usize = 10_000;
/// Batches of stopped leases a session may fall behind by before it must check its leases
/// itself (see [`Broker::stopped_leases`]).
const STOPPED_BACKLOG: usize = 1024;

/// The broker core shared by the gRPC services and the background drivers.
pub struct Broker {
    core: Mutex<Core>,
    settings: Settings,
    /// The free-space watermark; kept across reopens of the store.
    space: FreeSpace,
    clock: Arc<dyn Clock>,
    durability: Durability,
    ready: ReadySignals,
    results: ResultWaiters,
    timers: [Notify; 6],
    shutdown: CancellationToken,
    failed: AtomicBool,
    fail_state: Mutex<FailState>,
    healthy: watch::Sender<bool>,
    /// The number of times the store was reopened; sessions end when it moves.
    reopened: watch::Sender<u64>,
    /// Held through a reopen of the store, so two never overlap.
    reopen_gate: Mutex<()>,
    long_polls: AtomicUsize,
    /// Leases ended by a revoke, for the sessions that hold them.
    stopped: broadcast::Sender<Arc<[StoppedLease]>>,
    /// Every command's events, as they are stored (see `events.rs`).
    live_events: broadcast::Sender<Arc<LiveBatch>>,
    /// Event watchers connected now.
    watchers: AtomicUsize,
    /// Lets one multi-chunk enqueue apply its chunks at a time (see `tasks::ENQUEUE_CHUNK`).
    enqueue_gate: tokio::sync::Mutex<()>,
}

/// Logs how many tasks the store held, by state: after an accepted loss, what is left.
pub(super) fn log_recovered(tasks: &[crate::engine::TaskMeta]) {
    let mut by_state = std::collections::BTreeMap::<&str, usize>::new();
    for task in tasks {
        *by_state.entry(task.state.name()).or_default() += 1;
    }
    tracing::info!(tasks = tasks.len(), ?by_state, "recovered the store");
}

/// Counts a long poll while it waits.
struct Polling<'a>(&'a AtomicUsize);

impl<'a> Polling<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Recovers the engine from `store` and returns a broker ready to serve; it counts into
    /// `stats` when given (a broker that serves metrics).
    ///
    /// # Errors
    /// [`BrokerError::Store`] when the store cannot be read back.
    pub fn open(
        store: Store,
        engine_config: EngineConfig,
        durability: Durability,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
        stats: Option<Arc<BrokerStats>>,
    ) -> Result<Self, BrokerError> {
        let settings = Settings {
            store: store.config().clone(),
            engine: engine_config,
            stats,
        };
        let (core, _) = Core::load(store, engine_config, 0, settings.stats.clone())?;
        Ok(Self {
            core: Mutex::new(core),
            space: FreeSpace::new(&settings.store.path, settings.store.min_free_bytes),
            settings,
            clock,
            durability,
            ready: ReadySignals::default(),
            results: ResultWaiters::default(),
            timers: Default::default(),
            shutdown,
            failed: AtomicBool::new(false),
            fail_state: Mutex::new(FailState::default()),
            healthy: watch::channel(true).0,
            reopened: watch::channel(0).0,
            reopen_gate: Mutex::new(()),
            long_polls: AtomicUsize::new(0),
            stopped: broadcast::channel(STOPPED_BACKLOG).0,
            live_events: broadcast::channel(events::LIVE_BACKLOG).0,
            watchers: AtomicUsize::new(0),
            enqueue_gate: tokio::sync::Mutex::new(()),
        })
    }

    /// Applies a command and, unless it needs no durability, waits for its writes to be flushed.
    ///
    /// # Errors
    /// As the engine refuses, or [`BrokerError::Failed`] after a storage failure.
    async fn execute(&self, command: Command) -> Result<Outcome, BrokerError> {
        Ok(self.execute_reading(command).await?.0)
    }

    /// As [`Broker::execute`], also returning the store a lease's bodies are read from.
    async fn execute_reading(
        &self,
        command: Command,
    ) -> Result<(Outcome, Option<Arc<Store>>), BrokerError> {
        let applied = self.apply(command)?;
        self.announce_ready(&applied.outcome);
        self.durable(applied.flush).await?;
        self.announce(&applied.outcome);
        Ok((applied.outcome, applied.store))
    }

    /// Applies a command now and returns a future that resolves once it is durable, so a caller
    /// that serves a stream can go on reading while the flush happens (the future borrows
    /// nothing).
    ///
    /// # Errors
    /// As the engine refuses, or [`BrokerError::Failed`] after a storage failure; the future
    /// fails if the flush does.
    fn submit(
        self: &Arc<Self>,
        command: Command,
    ) -> Result<
        impl std::future::Future<Output = Result<Outcome, BrokerError>> + 'static,
        BrokerError,
    > {
        let applied = self.apply(command)?;
        self.announce_ready(&applied.outcome);
        let broker = self.clone();
        Ok(async move {
            broker.durable(applied.flush).await?;
            broker.announce(&applied.outcome);
            Ok(applied.outcome)
        })
    }

    /// Waits for a command's flush, if it has one.
    ///
    /// # Errors
    /// [`BrokerError::Failed`] when the flush failed.
    async fn durable(&self, flush: Option<Flush>) -> Result<(), BrokerError> {
        if let Some(flush) = flush {
            if let Err(err) = flush.commit.wait(flush.ticket).await {
                return Err(self.fail(err, flush.epoch));
            }
        }
        Ok(())
    }

    fn apply(&self, command: Command) -> Result<Applied, BrokerError> {
        self.check_writable()?;
        debug_assert!(command.width() < (1 << SUB_BITS));
        let reads = matches!(command, Command::Lease { .. });
        let mut guard = self.core.lock();
        // Split borrows: the engine changes while the store is written.
        let Core {
            engine,
            next_seq,
            reserved,
            storage,
            events,
            epoch,
        } = &mut *guard;
        let epoch = *epoch;
        let Some(Storage { store, commit }) = storage.as_ref() else {
            return Err(self.settings.reopening().into());
        };
        if *next_seq >= *reserved {
            let bound = *next_seq + SEQ_BLOCK;
            store.reserve_seq(bound).map_err(|e| self.fail(e, epoch))?;
            *reserved = bound;
        }
        let ctx = Ctx {
            now_ms: self.clock.now_ms(),
            seq: *next_seq,
        };
        *next_seq += 1;
        let mut outcome = engine.apply(command, ctx)?;
        if !outcome.writes.is_empty() {
            // Written under the engine lock so sled sees changes in the order the engine made
            // them.
            let writes = std::mem::take(&mut outcome.writes);
            store.apply(writes).map_err(|e| self.fail(e, epoch))?;
        }
        if !outcome.events.is_empty() {
            let made = std::mem::take(&mut outcome.events);
            self.record_events(events, ctx.seq, made);
        }
        // A durable answer waits for a flush even without writes of its own: a repeated ack must
        // not answer OK before the first one's write is on disk. The handle is cloned to wait
        // outside the lock (one `Arc` clone): the store may be reopened meanwhile.
        let flush = (outcome.durable && self.durability == Durability::Sync).then(|| Flush {
            ticket: commit.ticket(),
            commit: commit.clone(),
            epoch,
        });
        Ok(Applied {
            outcome,
            flush,
            store: reads.then(|| store.clone()),
        })
    }

    /// Wakes the leasers of queues that got READY tasks. Done as soon as the change is applied,
    /// before its flush: leasing a task whose enqueue is not yet durable is safe under
    /// at-least-once (the worker's ack is flushed after the enqueue it follows in the log), and it
    /// takes the flush off the send-to-start path.
    fn announce_ready(&self, outcome: &Outcome) {
        for queue in &outcome.ready_queues {
            self.ready.ready(queue);
        }
    }

    /// Wakes result waiters and the timer drivers, and tells sessions of their stopped leases,
    /// once the change is durable.
    fn announce(&self, outcome: &Outcome) {
        if !outcome.stopped.is_empty() {
            // No session listening is fine: then no worker holds those leases.
            let _ = self.stopped.send(outcome.stopped.as_slice().into());
        }
        for id in &outcome.finished {
            self.results.finished(id);
        }
        for (i, timer) in Timer::ALL.iter().enumerate() {
            if outcome.timers_moved & timer.bit() != 0 {
                if let Some(notify) = self.timers.get(i) {
                    notify.notify_one();
                }
            }
        }
    }

    /// How many Lease and GetResult calls are waiting right now.
    pub fn long_polls(&self) -> usize {
        self.long_polls.load(Ordering::Relaxed)
    }

    /// The wake-up a timer's driver sleeps on.
    pub(crate) fn timer_moved(&self, timer: Timer) -> &Notify {
        let i = Timer::ALL.iter().position(|t| *t == timer).unwrap_or(0);
        &self.timers[i.min(5)]
    }

    /// Leases that ended while a worker held them (a revoke), in batches, as they become
    /// durable. A receiver that falls more than a thousand batches behind gets
    /// [`broadcast::error::RecvError::Lagged`] and must check its leases with
    /// [`Broker::ended_leases`].
    pub fn stopped_leases(&self) -> broadcast::Receiver<Arc<[StoppedLease]>> {
        self.stopped.subscribe()
    }

    /// Of these (task id, lease id) pairs, the ones whose lease is not current any more, with
    /// the task's state now (`None`: gone).
    pub fn ended_leases(&self, leases: &[(String, u64)]) -> Vec<(String, u64, Option<TaskState>)> {
        let core = self.core.lock();
        leases
            .iter()
            .filter_map(|(id, lease_id)| {
                let meta = core.engine.get(id);
                let current = meta
                    .and_then(|m| m.lease())
                    .is_some_and(|l| l.id == *lease_id);
                (!current).then(|| (id.clone(), *lease_id, meta.map(|m| m.state)))
            })
            .collect()
    }

    /// Cancelled when the broker begins to shut down; long-lived streams end on it.
    pub fn shutdown_signal(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The clock commands are stamped with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// `true` while the broker can take writes; turns `false` on a storage or driver failure,
    /// and `true` again once the store is reopened after a storage failure.
    pub fn health(&self) -> watch::Receiver<bool> {
        self.healthy.subscribe()
    }

    /// Flushes everything written so far and waits for it (shutdown's last step).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn sync(&self) -> Result<(), BrokerError> {
        let commit = self.core.lock().storage(&self.settings)?.commit.clone();
        commit.sync().await?;
        Ok(())
    }

    /// The counters and histograms, when the broker serves metrics.
    pub fn metrics(&self) -> Option<&Arc<BrokerStats>> {
        self.settings.stats.as_ref()
    }

    /// Bytes the store occupies on disk (0 while it is being reopened).
    pub fn store_size(&self) -> u64 {
        let store = self
            .core
            .lock()
            .storage
            .as_ref()
            .map(|storage| storage.store.clone());
        store.map_or(0, |store| store.size_on_disk())
    }
}
