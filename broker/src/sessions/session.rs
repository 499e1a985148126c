//! One worker's streaming session, as broker logic (the gRPC stream is in
//! `service/workers.rs`): credits, pushed tasks under short prefetch leases, running leases
//! once started, and the release of everything the session holds when it ends.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::control::{ControlRequest, WorkerReply};
use super::registry::{Held, HeldLeases, Live, SessionRegistry, WorkerInfo};
use super::stops::{not_held, take_stopped, Stop};
use crate::broker::{AckItem, AckResults, Broker, BrokerError, LeasedTask};
use crate::config::SessionGrace;
use crate::engine::{Event, EventKind, NackAction, StoppedLease, TaskState};

/// A start to apply: task id, lease id, running lease length in ms.
type Start = (String, u64, u64);

/// Most credits granted and unused at a time.
pub const MAX_CREDITS: u32 = 10_000;

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
    /// Leases revoked anywhere, until the session's loop takes them; subscribed before the
    /// first push, so none of this session's is missed.
    stopped: Option<broadcast::Receiver<Arc<[StoppedLease]>>>,
    /// The worker id, shared by its events.
    worker: Arc<str>,
    /// Attempts this session completed (acked), for heartbeat events.
    processed: u64,
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
            processed: 0,
        };
        registry.live.lock().insert(
            session_no,
            Live {
                info,
                held: held.clone(),
            },
        );
        let control = Some(registry.control.attach(session_no, &options.worker_id));
        let stopped = Some(broker.stopped_leases());
        let worker: Arc<str> = Arc::from(options.worker_id.as_str());
        broker.record(vec![Event {
            worker: Some(worker.clone()),
            queue: options.queues.first().map(|q| Arc::from(q.as_str())),
            note: Some(Arc::from(format!(
                "host {} pid {}, queues {}",
                options.hostname,
                options.pid,
                options.queues.join(",")
            ))),
            ..Event::new(EventKind::WorkerOnline, now)
        }]);
        Self {
            worker,
            processed: 0,
            broker,
            options,
            credits: 0,
            held,
            registry,
            session_no,
            control,
            stopped,
        }
    }

    /// The leases revoked anywhere, for [`WorkerSession::stopped`] (once).
    pub fn stopped_leases(&mut self) -> Option<broadcast::Receiver<Arc<[StoppedLease]>>> {
        self.stopped.take()
    }

    /// The leases of a batch of stopped ones that this session holds: they are no longer its,
    /// and the worker must drop or stop their tasks.
    pub fn stopped(&mut self, batch: Result<Arc<[StoppedLease]>, RecvError>) -> Vec<Stop> {
        take_stopped(&self.broker, &mut self.held.lock(), batch)
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

    /// Records a heartbeat event: the attempts running now and completed so far.
    pub fn heartbeat(&self) {
        let active = self.held.lock().values().filter(|h| h.started).count();
        self.broker.record(vec![Event {
            worker: Some(self.worker.clone()),
            active: u32::try_from(active).unwrap_or(u32::MAX),
            processed: self.processed,
            ..Event::new(EventKind::WorkerHeartbeat, self.broker.clock().now_ms())
        }]);
    }

    /// Records that the worker sent something.
    pub fn seen(&self) {
        let now = self.broker.clock().now_ms();
        if let Some(live) = self.registry.live.lock().get_mut(&self.session_no) {
            live.info.last_seen_ms = now;
        }
    }

    /// Leases from `queues` from now on (the worker added or cancelled a consumer); tasks
    /// already pushed stay the worker's. The listing shows the new set.
    pub fn consume(&mut self, queues: Vec<String>) {
        if let Some(live) = self.registry.live.lock().get_mut(&self.session_no) {
            live.info.queues.clone_from(&queues);
        }
        tracing::info!(worker = %self.worker, queues = %queues.join(","), "worker changed its queues");
        self.options.queues = queues;
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
        let worker = Some(self.worker.clone());
        async move {
            broker
                .lease(queues, max, Some(prefetch_ms), true, wait, worker)
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
    /// takes back running leases of the same worker's broken session. Returns the starts
    /// refused (the task expired or was revoked meanwhile, the lease ended, or the session does
    /// not hold it): they are dropped from the session, and the worker must stop them.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn started(&mut self, leases: &[(String, u64)]) -> Result<Vec<Stop>, BrokerError> {
        for (_, lease_id) in leases {
            self.adopt(*lease_id);
        }
        let (starts, unheld) = self.to_start(leases);
        let mut refused = not_held(&self.broker, unheld);
        if starts.is_empty() {
            return Ok(refused);
        }
        let ids: Vec<(String, u64)> = starts
            .iter()
            .map(|(id, lease, _)| (id.clone(), *lease))
            .collect();
        let results = self.broker.start(starts).await?;
        let mut held = self.held.lock();
        for ((task_id, lease_id), result) in ids.into_iter().zip(results) {
            if let Err((err, state)) = result {
                held.remove(&lease_id);
                refused.push(Stop {
                    task_id,
                    lease_id,
                    state,
                    reason: err.to_string(),
                });
            }
        }
        Ok(refused)
    }

    /// Splits reported starts into the held, unstarted leases to start (with their running
    /// lease length) and the leases this session does not hold. Leases already running are
    /// neither: a reconnecting worker reports them again.
    fn to_start(&self, leases: &[(String, u64)]) -> (Vec<Start>, Vec<(String, u64)>) {
        let mut held = self.held.lock();
        let mut starts = Vec::new();
        let mut unheld = Vec::new();
        for (task_id, lease_id) in leases {
            match held.get_mut(lease_id) {
                Some(h) if !h.started => {
                    h.started = true;
                    starts.push((h.task_id.clone(), *lease_id, h.run_lease_ms));
                }
                Some(_) => {}
                None => unheld.push((task_id.clone(), *lease_id)),
            }
        }
        (starts, unheld)
    }

    /// Completes attempts, each fenced on its own. The acks are applied at once; the returned
    /// future resolves with their results once they are durable, and borrows nothing, so the
    /// session can go on pushing tasks during the flush.
    ///
    /// # Errors
    /// Storage failures; per-ack refusals are in the result.
    pub fn ack(
        &mut self,
        acks: Vec<AckItem>,
    ) -> Result<impl Future<Output = Result<AckResults, BrokerError>> + 'static, BrokerError> {
        let leases: Vec<u64> = acks.iter().map(|(_, lease, _)| *lease).collect();
        for lease in &leases {
            self.adopt(*lease);
        }
        let durable = self.broker.ack_many_pipelined(acks)?;
        self.processed += leases.len() as u64;
        if let Some(live) = self.registry.live.lock().get_mut(&self.session_no) {
            live.info.processed = self.processed;
        }
        let mut held = self.held.lock();
        for lease in leases {
            held.remove(&lease);
        }
        Ok(durable)
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
        self.broker.nack(id, lease_id, action).await
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
        let result = self.broker.extend(id, lease_id, lease_ms).await;
        if result.is_err() {
            self.held.lock().remove(&lease_id);
        }
        result
    }

    /// Ends the session. Unstarted leases go back to their queue at once, without counting as
    /// an attempt. `why` says why it ended, for the worker-offline event. Running leases do
    /// too after a clean close; after a broken stream they wait
    /// for the reconnect grace (see [`SessionGrace`]). Returns how many leases were released now.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn close(self, clean: bool, why: &str) -> Result<usize, BrokerError> {
        self.registry.live.lock().remove(&self.session_no);
        self.broker.record(vec![Event {
            worker: Some(self.worker.clone()),
            processed: self.processed,
            note: Some(Arc::from(why)),
            ..Event::new(EventKind::WorkerOffline, self.broker.clock().now_ms())
        }]);
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
async fn release(broker: &Broker, held: HeldLeases, cause: String) -> Result<usize, BrokerError> {
    if held.is_empty() {
        return Ok(0);
    }
    let leases = held
        .into_iter()
        .map(|(lease_id, held)| (held.task_id, lease_id, held.started))
        .collect();
    broker.release(leases, cause).await
}
