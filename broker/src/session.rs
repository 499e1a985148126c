//! A worker's streaming session, as broker logic (the gRPC stream is in `service/session.rs`):
//! credits, pushed tasks under short prefetch leases, running leases once started, and the
//! release of everything the session holds when it ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::broker::{Broker, BrokerError, LeasedTask};
use crate::config::SessionGrace;
use crate::control::{ControlRequest, ControlRouter, WorkerReply};
use crate::engine::{AckOutcome, Command, EngineError, NackAction, Reply, TaskState};

/// Per ack, the task's state after it or why it was refused.
pub type AckResults = Vec<Result<TaskState, EngineError>>;

/// Most credits granted and unused at a time.
pub const MAX_CREDITS: u32 = 10_000;

/// Leases by lease id.
type HeldLeases = HashMap<u64, Held>;

/// The broker's worker sessions: the open ones (for listing), and the running leases of
/// workers whose session broke, kept for the reconnect grace so the same worker can take them
/// back. Soft state: a broker restart makes every task ready anyway.
#[derive(Debug, Default)]
pub struct SessionRegistry {
    /// Per worker id: the generation the leases were kept at, and the leases.
    by_worker: Mutex<HashMap<String, (u64, HeldLeases)>>,
    generation: AtomicU64,
    open: std::sync::atomic::AtomicUsize,
    /// Open sessions by session number, for listing workers.
    live: Mutex<HashMap<u64, Live>>,
    /// Control commands to the open sessions.
    control: ControlRouter,
}

/// An open session, as listed.
#[derive(Debug)]
struct Live {
    info: WorkerInfo,
    held: Arc<Mutex<HeldLeases>>,
}

/// A connected worker session, as the broker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's id.
    pub worker_id: String,
    /// Its host.
    pub hostname: String,
    /// Its process id.
    pub pid: u32,
    /// Queues it takes tasks from.
    pub queues: Vec<String>,
    /// Task names it runs.
    pub task_names: Vec<String>,
    /// Its SDK.
    pub sdk_version: String,
    /// When the session opened, unix ms.
    pub connected_ms: u64,
    /// When the worker last sent anything, unix ms.
    pub last_seen_ms: u64,
    /// (task id, lease id, started) of the tasks it holds.
    pub tasks: Vec<(String, u64, bool)>,
}

impl SessionRegistry {
    /// The workers connected now, sorted by worker id, with the tasks each holds.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let live = self.live.lock();
        let mut workers: Vec<WorkerInfo> = live
            .values()
            .map(|session| {
                let mut info = session.info.clone();
                let mut tasks: Vec<(String, u64, bool)> = session
                    .held
                    .lock()
                    .iter()
                    .map(|(lease, held)| (held.task_id.clone(), *lease, held.started))
                    .collect();
                tasks.sort();
                info.tasks = tasks;
                info
            })
            .collect();
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        workers
    }

    /// Routes control commands to the open sessions.
    pub fn control(&self) -> &ControlRouter {
        &self.control
    }

    /// Sessions open right now.
    pub fn open_sessions(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn keep(&self, worker_id: &str, held: HashMap<u64, Held>) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        self.by_worker
            .lock()
            .insert(worker_id.to_string(), (generation, held));
        generation
    }

    fn adopt(&self, worker_id: &str) -> HashMap<u64, Held> {
        self.by_worker
            .lock()
            .remove(worker_id)
            .map(|(_, held)| held)
            .unwrap_or_default()
    }

    /// One kept lease of `worker_id`, taken back by a newer session of the same worker.
    fn adopt_lease(&self, worker_id: &str, lease_id: u64) -> Option<Held> {
        self.by_worker
            .lock()
            .get_mut(worker_id)
            .and_then(|(_, held)| held.remove(&lease_id))
    }

    /// The leases kept at `generation`, unless the worker took them back since.
    fn expire(&self, worker_id: &str, generation: u64) -> Option<HashMap<u64, Held>> {
        let mut by_worker = self.by_worker.lock();
        match by_worker.get(worker_id) {
            Some((kept, _)) if *kept == generation => by_worker.remove(worker_id).map(|(_, h)| h),
            _ => None,
        }
    }
}

/// How a session leases.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The worker, stable across its reconnects.
    pub worker_id: String,
    /// Its host, for listings.
    pub hostname: String,
    /// Its process id, for listings.
    pub pid: u32,
    /// Task names it runs, for listings.
    pub task_names: Vec<String>,
    /// Its SDK, for listings.
    pub sdk_version: String,
    /// Queues in the order to try them.
    pub queues: Vec<String>,
    /// The lease of a started task; each task's own when `None`.
    pub run_lease_ms: Option<u64>,
    /// The lease of a pushed task that has not started.
    pub prefetch_ms: u64,
    /// How long running leases wait for the worker to reconnect after its session broke.
    pub grace: SessionGrace,
}

/// A lease the session holds.
#[derive(Debug)]
struct Held {
    task_id: String,
    started: bool,
    run_lease_ms: u64,
}

/// One worker's session.
#[derive(Debug)]
pub struct WorkerSession {
    broker: Arc<Broker>,
    options: SessionOptions,
    credits: u32,
    // A parking_lot mutex, shared with the listing; never held across an await.
    held: Arc<Mutex<HeldLeases>>,
    registry: Arc<SessionRegistry>,
    session_no: u64,
    /// Control commands for the worker, until the session's loop takes them.
    control: Option<mpsc::Receiver<ControlRequest>>,
}

impl WorkerSession {
    /// A session with no credits yet. If the same worker's previous session broke within the
    /// grace, this session takes back the running leases it left.
    pub fn new(
        broker: Arc<Broker>,
        options: SessionOptions,
        registry: Arc<SessionRegistry>,
    ) -> Self {
        let held = Arc::new(Mutex::new(registry.adopt(&options.worker_id)));
        registry.open.fetch_add(1, Ordering::Relaxed);
        let session_no = registry.generation.fetch_add(1, Ordering::Relaxed);
        let now = broker.clock().now_ms();
        let info = WorkerInfo {
            worker_id: options.worker_id.clone(),
            hostname: options.hostname.clone(),
            pid: options.pid,
            queues: options.queues.clone(),
            task_names: options.task_names.clone(),
            sdk_version: options.sdk_version.clone(),
            connected_ms: now,
            last_seen_ms: now,
            tasks: Vec::new(),
        };
        registry.live.lock().insert(
            session_no,
            Live {
                info,
                held: held.clone(),
            },
        );
        let control = Some(registry.control.attach(session_no, &options.worker_id));
        Self {
            broker,
            options,
            credits: 0,
            held,
            registry,
            session_no,
            control,
        }
    }

    /// The control commands for this worker (once).
    pub fn control_requests(&mut self) -> Option<mpsc::Receiver<ControlRequest>> {
        self.control.take()
    }

    /// Hands the worker's answer to a control command to the request waiting for it.
    pub fn control_reply(&self, request_id: u64, reply: WorkerReply) {
        self.registry
            .control
            .answer(&self.options.worker_id, request_id, reply);
    }

    /// Records that the worker sent something.
    pub fn seen(&self) {
        let now = self.broker.clock().now_ms();
        if let Some(live) = self.registry.live.lock().get_mut(&self.session_no) {
            live.info.last_seen_ms = now;
        }
    }

    /// Adds credits, up to [`MAX_CREDITS`] unused.
    pub fn grant(&mut self, tasks: u32) {
        self.credits = self.credits.saturating_add(tasks).min(MAX_CREDITS);
    }

    /// Credits granted and not yet used.
    pub fn credits(&self) -> u32 {
        self.credits
    }

    /// Leases up to the unused credits, waiting up to `wait` for a task to become ready. The
    /// future borrows nothing from the session, so it can be dropped for an incoming message.
    pub fn next_tasks(
        &self,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<LeasedTask>, BrokerError>> + 'static {
        let broker = self.broker.clone();
        let queues = self.options.queues.clone();
        let max = usize::try_from(self.credits).unwrap_or(usize::MAX);
        let prefetch_ms = self.options.prefetch_ms;
        async move {
            broker
                .lease(queues, max, Some(prefetch_ms), true, wait)
                .await
        }
    }

    /// Records tasks pushed to the worker: each uses a credit and holds its prefetch lease.
    pub fn pushed(&mut self, tasks: &[LeasedTask]) {
        for task in tasks {
            self.credits = self.credits.saturating_sub(1);
            let run_lease_ms = self
                .options
                .run_lease_ms
                .unwrap_or_else(|| u64::from(task.meta.options.lease_ms));
            self.held.lock().insert(
                task.lease_id,
                Held {
                    task_id: task.meta.id.to_string(),
                    started: false,
                    run_lease_ms,
                },
            );
        }
    }

    /// Takes back a running lease this worker left in an earlier session, if it is kept for it:
    /// a reconnect can race the broker noticing that the old stream broke.
    fn adopt(&mut self, lease_id: u64) {
        if self.held.lock().contains_key(&lease_id) {
            return;
        }
        if let Some(held) = self.registry.adopt_lease(&self.options.worker_id, lease_id) {
            self.held.lock().insert(lease_id, held);
        }
    }

    /// Turns the prefetch leases of tasks the worker began running into running leases, and
    /// takes back running leases of the same worker's broken session. Leases that are no longer
    /// current are dropped from the session.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn started(&mut self, leases: &[u64]) -> Result<(), BrokerError> {
        for lease_id in leases {
            self.adopt(*lease_id);
        }
        let extends: Vec<(String, u64, u64)> = {
            let mut held = self.held.lock();
            leases
                .iter()
                .filter_map(|lease_id| {
                    let held = held.get_mut(lease_id).filter(|h| !h.started)?;
                    held.started = true;
                    Some((held.task_id.clone(), *lease_id, held.run_lease_ms))
                })
                .collect()
        };
        if extends.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = extends.iter().map(|(_, lease, _)| *lease).collect();
        let outcome = self.broker.execute(Command::ExtendMany(extends)).await?;
        if let Reply::ExtendedMany(results) = outcome.reply {
            let mut held = self.held.lock();
            for (lease_id, result) in ids.into_iter().zip(results) {
                if result.is_err() {
                    held.remove(&lease_id);
                }
            }
        }
        Ok(())
    }

    /// Completes attempts, each fenced on its own. The acks are applied at once; the returned
    /// future resolves with their results once they are durable, and borrows nothing, so the
    /// session can go on pushing tasks during the flush.
    ///
    /// # Errors
    /// Storage failures; per-ack refusals are in the result.
    pub fn ack(
        &mut self,
        acks: Vec<(String, u64, AckOutcome)>,
    ) -> Result<impl Future<Output = Result<AckResults, BrokerError>> + 'static, BrokerError> {
        let leases: Vec<u64> = acks.iter().map(|(_, lease, _)| *lease).collect();
        for lease in &leases {
            self.adopt(*lease);
        }
        let durable = self.broker.submit(Command::AckMany(acks))?;
        let mut held = self.held.lock();
        for lease in leases {
            held.remove(&lease);
        }
        drop(held);
        Ok(async move {
            match durable.await?.reply {
                Reply::AckedMany(results) => Ok(results),
                _ => Ok(Vec::new()),
            }
        })
    }

    /// Gives one attempt back.
    ///
    /// # Errors
    /// As the unary Nack.
    pub async fn nack(
        &mut self,
        id: String,
        lease_id: u64,
        action: NackAction,
    ) -> Result<TaskState, BrokerError> {
        self.adopt(lease_id);
        self.held.lock().remove(&lease_id);
        let outcome = self
            .broker
            .execute(Command::Nack {
                id,
                lease_id,
                action,
            })
            .await?;
        match outcome.reply {
            Reply::State(state) => Ok(state),
            _ => Ok(TaskState::Ready),
        }
    }

    /// Extends a lease; a refused extension drops it from the session.
    ///
    /// # Errors
    /// As the unary ExtendLease.
    pub async fn extend(
        &mut self,
        id: String,
        lease_id: u64,
        lease_ms: u64,
    ) -> Result<u64, BrokerError> {
        self.adopt(lease_id);
        let result = self
            .broker
            .execute(Command::Extend {
                id,
                lease_id,
                lease_ms,
            })
            .await;
        match result {
            Ok(outcome) => match outcome.reply {
                Reply::Extended { deadline_ms } => Ok(deadline_ms),
                _ => Ok(0),
            },
            Err(err) => {
                self.held.lock().remove(&lease_id);
                Err(err)
            }
        }
    }

    /// Ends the session. Unstarted leases go back to their queue at once, without counting as
    /// an attempt. Running leases do too after a clean close; after a broken stream they wait
    /// for the reconnect grace (see [`SessionGrace`]). Returns how many leases were released now.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn close(self, clean: bool) -> Result<usize, BrokerError> {
        self.registry.live.lock().remove(&self.session_no);
        self.registry.control.detach(self.session_no);
        let held = std::mem::take(&mut *self.held.lock());
        let (running, unstarted): (HeldLeases, HeldLeases) =
            held.into_iter().partition(|(_, held)| held.started);
        let keep = match self.options.grace {
            _ if clean || running.is_empty() => None,
            SessionGrace::After(grace) if grace.is_zero() => None,
            SessionGrace::After(grace) => Some(Some(grace)),
            SessionGrace::UntilDeadline => Some(None),
        };
        let now = match keep {
            None => unstarted.into_iter().chain(running).collect(),
            Some(grace) => {
                if let Some(grace) = grace {
                    let worker_id = self.options.worker_id.clone();
                    let generation = self.registry.keep(&worker_id, running);
                    let (broker, registry) = (self.broker.clone(), self.registry.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(grace).await;
                        if let Some(held) = registry.expire(&worker_id, generation) {
                            let cause = format!(
                                "worker {worker_id:?} was cut off while the attempt ran and did not \
                                 reconnect within the {grace:?} grace"
                            );
                            if let Err(err) = release(&broker, held, cause).await {
                                tracing::error!(cause = %err, "releasing orphaned leases failed");
                            }
                        }
                    });
                }
                unstarted
            }
        };
        let worker_id = &self.options.worker_id;
        let cause = if clean {
            format!("worker {worker_id:?} shut down cold while the attempt ran")
        } else {
            format!("worker {worker_id:?} was cut off while the attempt ran")
        };
        let released = release(&self.broker, now, cause).await;
        // Counted closed only once its running leases are kept or released, so a worker that
        // reconnects after this finds them.
        self.registry.open.fetch_sub(1, Ordering::Relaxed);
        released
    }
}

/// Gives leases back; returns how many were still current.
async fn release(
    broker: &Broker,
    held: HashMap<u64, Held>,
    cause: String,
) -> Result<usize, BrokerError> {
    if held.is_empty() {
        return Ok(0);
    }
    let leases = held
        .into_iter()
        .map(|(lease_id, held)| (held.task_id, lease_id, held.started))
        .collect();
    let outcome = broker.execute(Command::Release { leases, cause }).await?;
    match outcome.reply {
        Reply::Released(n) => Ok(n),
        _ => Ok(0),
    }
}
