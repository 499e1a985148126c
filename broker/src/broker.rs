//! The broker core: the engine behind one mutex, the store, group commit, the sequencer and the
//! long-poll waiters. It orders commands (stamping time and sequence), makes their writes
//! durable before answering, and wakes whoever waits on what changed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Durability;
use crate::engine::{
    Command, Counts, Ctx, Engine, EngineConfig, EngineError, Granted, Outcome, Page, PageToken,
    Reply, TaskBody, TaskMeta, TaskResult, TaskState, Timer, SUB_BITS,
};
use crate::store::{GroupCommit, Store, StoreError};
use crate::waiters::{ReadySignals, ResultWaiters};

/// Sequence numbers reserved durably at a time; a restart skips what was left of a block.
const SEQ_BLOCK: u64 = 1 << 20;
/// Most transitions one timer command moves, so a backlog never holds the engine for long.
const TICK_BATCH: usize = 10_000;

/// Why a broker call failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The engine refused the command.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed; the broker stops taking writes.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker is shutting down.
    #[error("broker shutting down; retry against another broker or after restart")]
    ShuttingDown,
    /// An earlier storage failure left the broker unable to take writes.
    #[error("broker unavailable after a storage failure: {0}")]
    Failed(String),
}

/// A task leased to a worker, with its body.
#[derive(Debug, Clone)]
pub struct LeasedTask {
    /// The task as it is now.
    pub meta: TaskMeta,
    /// The lease fencing this attempt.
    pub lease_id: u64,
    /// When the lease ends, unix ms.
    pub deadline_ms: u64,
    /// Payload and headers.
    pub body: TaskBody,
}

/// What `get_result` reports.
#[derive(Debug, Clone)]
pub struct TaskStatus {
    /// The task, or `None` if unknown.
    pub meta: Option<TaskMeta>,
    /// The result, when it succeeded.
    pub result: Option<TaskResult>,
}

struct Core {
    engine: Engine,
    next_seq: u64,
    reserved: u64,
}

/// The broker core shared by the gRPC services and the background drivers.
pub struct Broker {
    core: Mutex<Core>,
    store: Store,
    commit: GroupCommit,
    clock: Arc<dyn Clock>,
    durability: Durability,
    ready: ReadySignals,
    results: ResultWaiters,
    timers: [Notify; 6],
    shutdown: CancellationToken,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    healthy: watch::Sender<bool>,
    long_polls: AtomicUsize,
    sessions: Arc<crate::session::SessionRegistry>,
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
    /// Recovers the engine from `store` and returns a broker ready to serve.
    ///
    /// # Errors
    /// [`BrokerError::Store`] when the store cannot be read back.
    pub fn open(
        store: Store,
        engine_config: EngineConfig,
        durability: Durability,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> Result<Self, BrokerError> {
        let recovered = store.recover()?;
        let next_seq = recovered.next_seq.max(1);
        let mut engine = Engine::recover(engine_config, recovered.tasks);
        engine.restore_schedules(recovered.schedules);
        engine.restore_limits(recovered.limits);
        let reserved = next_seq + SEQ_BLOCK;
        store.reserve_seq(reserved)?;
        let commit = store.group_commit()?;
        Ok(Self {
            core: Mutex::new(Core {
                engine,
                next_seq,
                reserved,
            }),
            store,
            commit,
            clock,
            durability,
            ready: ReadySignals::default(),
            results: ResultWaiters::default(),
            timers: Default::default(),
            shutdown,
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            healthy: watch::channel(true).0,
            long_polls: AtomicUsize::new(0),
            sessions: Arc::default(),
        })
    }

    /// Applies a command and, unless it needs no durability, waits for its writes to be flushed.
    ///
    /// # Errors
    /// As the engine refuses, or [`BrokerError::Failed`] after a storage failure.
    pub async fn execute(&self, command: Command) -> Result<Outcome, BrokerError> {
        let (outcome, ticket) = self.apply(command)?;
        self.announce_ready(&outcome);
        if let Some(ticket) = ticket {
            if let Err(err) = self.commit.wait(ticket).await {
                return Err(self.fail(err));
            }
        }
        self.announce(&outcome);
        Ok(outcome)
    }

    /// Applies a command now and returns a future that resolves once it is durable, so a caller
    /// that serves a stream can go on reading while the flush happens (the future borrows
    /// nothing).
    ///
    /// # Errors
    /// As the engine refuses, or [`BrokerError::Failed`] after a storage failure; the future
    /// fails if the flush does.
    pub fn submit(
        self: &Arc<Self>,
        command: Command,
    ) -> Result<
        impl std::future::Future<Output = Result<Outcome, BrokerError>> + 'static,
        BrokerError,
    > {
        let (outcome, ticket) = self.apply(command)?;
        self.announce_ready(&outcome);
        let broker = self.clone();
        Ok(async move {
            if let Some(ticket) = ticket {
                if let Err(err) = broker.commit.wait(ticket).await {
                    return Err(broker.fail(err));
                }
            }
            broker.announce(&outcome);
            Ok(outcome)
        })
    }

    fn apply(&self, command: Command) -> Result<(Outcome, Option<u64>), BrokerError> {
        self.check_writable()?;
        debug_assert!(command.width() < (1 << SUB_BITS));
        let mut core = self.core.lock();
        if core.next_seq >= core.reserved {
            let bound = core.next_seq + SEQ_BLOCK;
            self.store.reserve_seq(bound).map_err(|e| self.fail(e))?;
            core.reserved = bound;
        }
        let ctx = Ctx {
            now_ms: self.clock.now_ms(),
            seq: core.next_seq,
        };
        core.next_seq += 1;
        let mut outcome = core.engine.apply(command, ctx)?;
        if !outcome.writes.is_empty() {
            // Written under the engine lock so sled sees changes in the order the engine made
            // them.
            let writes = std::mem::take(&mut outcome.writes);
            self.store.apply(writes).map_err(|e| self.fail(e))?;
        }
        // A durable answer waits for a flush even without writes of its own: a repeated ack must
        // not answer OK before the first one's write is on disk.
        let ticket =
            (outcome.durable && self.durability == Durability::Sync).then(|| self.commit.ticket());
        Ok((outcome, ticket))
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

    /// Wakes result waiters and the timer drivers, once the change is durable.
    fn announce(&self, outcome: &Outcome) {
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

    /// Marks the broker failed: health turns NOT_SERVING and writes are refused from now on.
    fn fail(&self, err: StoreError) -> BrokerError {
        tracing::error!(cause = %err, "storage failure; the broker stops taking writes");
        self.failure.lock().get_or_insert_with(|| err.to_string());
        self.failed.store(true, Ordering::Release);
        self.healthy.send_replace(false);
        BrokerError::Store(err)
    }

    /// Marks the broker failed because a background task died.
    pub fn poison(&self, why: String) {
        tracing::error!(cause = %why, "background failure; the broker stops taking writes");
        self.failure.lock().get_or_insert(why);
        self.failed.store(true, Ordering::Release);
        self.healthy.send_replace(false);
    }

    fn check_writable(&self) -> Result<(), BrokerError> {
        if self.failed.load(Ordering::Acquire) {
            let why = self.failure.lock().clone().unwrap_or_default();
            return Err(BrokerError::Failed(why));
        }
        Ok(())
    }

    /// Leases up to `max` tasks from `queues`, waiting up to `wait` for one to become ready.
    ///
    /// # Errors
    /// [`BrokerError::ShuttingDown`] when shutdown begins during the wait; storage failures.
    pub async fn lease(
        &self,
        queues: Vec<String>,
        max: usize,
        lease_ms: Option<u64>,
        prefetch: bool,
        wait: Duration,
    ) -> Result<Vec<LeasedTask>, BrokerError> {
        let deadline = Instant::now() + wait;
        // Registered before the first attempt, so a task that arrives in between wakes us.
        let ready = (!wait.is_zero()).then(|| self.ready.register(&queues));
        loop {
            let outcome = self
                .execute(Command::Lease {
                    queues: queues.clone(),
                    max,
                    lease_ms,
                    prefetch,
                })
                .await?;
            let Reply::Leased(granted) = outcome.reply else {
                unreachable!("Lease is answered with Reply::Leased");
            };
            let Some(ready) = ready.as_ref().filter(|_| granted.is_empty()) else {
                return self.with_bodies(granted);
            };
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let _polling = Polling::new(&self.long_polls);
            tokio::select! {
                () = ready.notified() => {}
                () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
                () = self.shutdown.cancelled() => return Err(BrokerError::ShuttingDown),
            }
        }
    }

    fn with_bodies(&self, granted: Vec<Granted>) -> Result<Vec<LeasedTask>, BrokerError> {
        granted
            .into_iter()
            .map(|g| {
                let body = self.store.body(g.meta.key)?.unwrap_or_else(|| {
                    tracing::error!(task = %g.meta.id, "task body missing from the store");
                    TaskBody::default()
                });
                Ok(LeasedTask {
                    meta: g.meta,
                    lease_id: g.lease_id,
                    deadline_ms: g.deadline_ms,
                    body,
                })
            })
            .collect()
    }

    /// The task's state and result, waiting up to `wait` for it to finish.
    ///
    /// # Errors
    /// [`BrokerError::ShuttingDown`] when shutdown begins during the wait; storage failures.
    pub async fn get_result(&self, id: &str, wait: Duration) -> Result<TaskStatus, BrokerError> {
        let deadline = Instant::now() + wait;
        loop {
            let mut finished = (!wait.is_zero()).then(|| self.results.subscribe(id));
            let meta = self.core.lock().engine.get(id).cloned();
            let done = meta.as_ref().is_none_or(|m| m.state.is_terminal());
            if done || Instant::now() >= deadline {
                drop(finished);
                self.results.release(id);
                let result = match &meta {
                    Some(m) if m.state == TaskState::Succeeded => self.store.result(m.key)?,
                    _ => None,
                };
                return Ok(TaskStatus { meta, result });
            }
            let Some(rx) = finished.as_mut() else {
                continue;
            };
            let _polling = Polling::new(&self.long_polls);
            tokio::select! {
                _ = rx.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = self.shutdown.cancelled() => {
                    drop(finished);
                    self.results.release(id);
                    return Err(BrokerError::ShuttingDown);
                }
            }
        }
    }

    /// Worker sessions: how many are open, and the running leases of broken ones.
    pub fn sessions(&self) -> &Arc<crate::session::SessionRegistry> {
        &self.sessions
    }

    /// How many Lease and GetResult calls are waiting right now.
    pub fn long_polls(&self) -> usize {
        self.long_polls.load(Ordering::Relaxed)
    }

    /// Counts per queue.
    pub fn stats(&self, queues: &[String]) -> Vec<(Arc<str>, Counts)> {
        self.core.lock().engine.stats(queues)
    }

    /// Every limit, by scope and header.
    pub fn limits(&self) -> Vec<crate::engine::limits::LimitInfo> {
        self.core.lock().engine.limits()
    }

    /// Every schedule, by name.
    pub fn schedules(&self) -> Vec<crate::engine::schedule::Schedule> {
        self.core
            .lock()
            .engine
            .schedules()
            .into_iter()
            .cloned()
            .collect()
    }

    /// The schedule named `name`.
    pub fn schedule(&self, name: &str) -> Option<crate::engine::schedule::Schedule> {
        self.core.lock().engine.schedule(name).cloned()
    }

    /// A page of a queue's tasks in one state.
    pub fn list(
        &self,
        queue: &str,
        state: TaskState,
        after: Option<PageToken>,
        page_size: usize,
    ) -> (Page, Vec<Option<crate::engine::limits::Held>>) {
        let core = self.core.lock();
        let page = core.engine.list(queue, state, after, page_size);
        let held = page
            .tasks
            .iter()
            .map(|t| core.engine.held(t.key).cloned())
            .collect();
        (page, held)
    }

    /// Runs one timer's due transitions; returns its next deadline (unix ms).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn tick(&self, timer: Timer) -> Result<Option<u64>, BrokerError> {
        loop {
            let outcome = self
                .execute(Command::Tick {
                    timer,
                    limit: TICK_BATCH,
                })
                .await?;
            if !matches!(outcome.reply, Reply::Ticked(n) if n == TICK_BATCH) {
                break;
            }
        }
        Ok(self.core.lock().engine.next_deadline(timer))
    }

    /// The wake-up a timer's driver sleeps on.
    pub(crate) fn timer_moved(&self, timer: Timer) -> &Notify {
        let i = Timer::ALL.iter().position(|t| *t == timer).unwrap_or(0);
        &self.timers[i.min(5)]
    }

    /// Cancelled when the broker begins to shut down; long-lived streams end on it.
    pub fn shutdown_signal(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The clock commands are stamped with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// `true` while the broker can take writes; turns `false` for good on a storage failure.
    pub fn health(&self) -> watch::Receiver<bool> {
        self.healthy.subscribe()
    }

    /// Flushes everything written so far and waits for it (shutdown's last step).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn sync(&self) -> Result<(), BrokerError> {
        self.commit.sync().await?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn store_size(&self) -> u64 {
        self.store.size_on_disk()
    }
}
