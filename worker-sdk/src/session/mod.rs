//! The session with the broker as a state machine: what runs, what waits for a slot, what
//! could not be acked yet and which acks await an answer, changed by one method per event.
//! [`serve`] is the loop that opens connections and feeds it their events; [`ToBroker`] is all
//! the worker says.

mod ack;
mod ack_ledger;
mod buffer;
mod control;
mod outbox;
mod running;
pub(crate) mod serve;
mod settings;

use stalk_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics::Outcome;
use crate::pool::{Done, Pool};
use crate::steps::StepRequest;
use crate::time::unix_now_ms;
use ack::Ack;
use ack_ledger::AckLedger;
use buffer::Buffer;
use outbox::{Disconnected, ToBroker};
use running::RunningTasks;

pub(crate) use settings::SessionSettings;

/// A worker's side of its sessions: one value across reconnects.
#[derive(Debug)]
pub(crate) struct Session<'a> {
    settings: &'a SessionSettings,
    pool: &'a Pool,
    /// The control step's inbox; none without a control step.
    commands: Option<mpsc::Sender<pb::ControlRequest>>,
    /// The current connection's messages to the broker.
    out: ToBroker,
    /// Running attempts; they survive a broken connection.
    running: RunningTasks,
    /// Pushed tasks not started yet; a broken connection's go back to the broker with it.
    waiting: Buffer,
    /// Acks a broken connection could not send, for the next one.
    unsent: Vec<Ack>,
    /// Acks sent and not answered yet; how many the broker refused.
    acks: AckLedger,
    /// Warm shutdown began: no new task starts.
    stopping: bool,
    /// The broker's priority aging (from its welcome), so the buffer starts tasks in its order.
    priority_aging_ms: u64,
    /// The queues taken from now; control commands change them, and a reconnect's hello
    /// names them.
    queues: Vec<String>,
    /// Tasks run at once now; control commands change it.
    slots: u32,
    /// Credits to withhold after a pool shrink: freed places pay this down before any is
    /// granted again, so the broker's credit shrinks with the pool.
    credit_debt: u32,
}

impl<'a> Session<'a> {
    /// A session not connected yet (see [`Session::open`]).
    pub(crate) fn new(
        settings: &'a SessionSettings,
        pool: &'a Pool,
        commands: Option<mpsc::Sender<pb::ControlRequest>>,
    ) -> Self {
        Self {
            settings,
            pool,
            commands,
            // Until the first `open`, nothing listens: what is sent is refused.
            out: ToBroker::channel().0,
            running: RunningTasks::default(),
            waiting: Buffer::default(),
            unsent: Vec::new(),
            acks: AckLedger::default(),
            stopping: false,
            priority_aging_ms: 0,
            queues: settings.queues.clone(),
            slots: settings.concurrency,
            credit_debt: 0,
        }
    }

    /// Starts a connection: queues its first messages (hello, the running tasks, whose leases
    /// the broker hands back, acks that could not be sent, and credits for the free slots) and
    /// returns the stream to send.
    pub(crate) async fn open(&mut self) -> mpsc::Receiver<pb::WorkerMessage> {
        let (out, outbound) = ToBroker::channel();
        self.out = out;
        self.waiting = Buffer::default();
        // The channel is fresh and larger than these messages: they are queued at once.
        // A new stream starts with no credit at the broker, so nothing is owed on it.
        self.credit_debt = 0;
        let _ = self.out.hello(self.settings.hello(&self.queues)).await;
        if !self.running.is_empty() {
            let _ = self.out.started(self.running.started()).await;
        }
        if !self.unsent.is_empty() {
            let unsent = std::mem::take(&mut self.unsent);
            let _ = self.send_acks(unsent).await;
        }
        let free = self.capacity().saturating_sub(self.running.len());
        if !self.stopping && free > 0 {
            let _ = self
                .out
                .credit(u32::try_from(free).unwrap_or(u32::MAX))
                .await;
        }
        outbound
    }

    /// Publishes how many slots are busy and how many pushed tasks wait, for `/metrics`; the
    /// session loop calls it after every event.
    pub(crate) fn publish_occupancy(&self) {
        self.settings
            .metrics
            .occupancy(self.running.len(), self.waiting.len());
    }

    /// Whether warm shutdown began.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Whether warm shutdown is over on this connection: stopping, and nothing runs.
    pub(crate) fn is_drained(&self) -> bool {
        self.stopping && self.running.is_empty()
    }

    /// Whether nothing is left to do or say: drained, and every ack sent.
    pub(crate) fn is_finished(&self) -> bool {
        self.is_drained() && self.unsent.is_empty()
    }

    /// The broker accepted the session and says how it orders tasks.
    pub(crate) fn welcomed(&mut self, welcome: &pb::Welcome) {
        self.priority_aging_ms = welcome.priority_aging_ms;
    }

    /// The broker pushed tasks: they wait for a slot, and start when one is free.
    pub(crate) async fn tasks_pushed(&mut self, tasks: Vec<pb::LeasedTask>) {
        // Once stopping, pushed tasks are left to the goodbye, which releases them.
        if self.stopping {
            return;
        }
        for task in tasks {
            self.admit(task).await;
        }
        self.run_waiting().await;
    }

    /// The broker refused to extend a running task's lease: the attempt now belongs to someone
    /// else (or the task was revoked), so it is stopped and not acknowledged.
    pub(crate) async fn lease_lost(&mut self, outcome: pb::ExtendOutcome) {
        if let Some(meta) = self.running.stop_task(&outcome.task_id) {
            tracing::warn!(task = %outcome.task_id, "lease lost; the attempt was stopped and is not acked");
            self.settings
                .metrics
                .task_ended(&meta.name, Outcome::LeaseLost);
            if !self.stopping {
                self.grant(1).await;
            }
        }
        if !self.stopping {
            self.run_waiting().await;
        }
    }

    /// The broker took leases back (the tasks were revoked, or their start was refused): a task
    /// waiting here is dropped without starting, a running one is stopped and not acked, and
    /// each freed place is granted again.
    pub(crate) async fn tasks_stopped(&mut self, stop: pb::StopTasks) {
        let mut freed = 0;
        for task in stop.tasks {
            let state = pb::TaskState::try_from(task.state).unwrap_or_default();
            let state = state.as_str_name().trim_start_matches("TASK_STATE_");
            let name = if let Some(name) = self.waiting.remove(task.lease_id) {
                tracing::info!(task = %task.task_id, state, reason = %task.reason, "task dropped before it started");
                name
            } else if let Some(meta) = self.running.stop_lease(task.lease_id) {
                tracing::info!(task = %task.task_id, state, reason = %task.reason, "running task stopped; it is not acked");
                meta.name.clone()
            } else {
                continue;
            };
            self.settings.metrics.task_ended(&name, Outcome::Revoked);
            freed += 1;
        }
        if self.stopping || freed == 0 {
            return;
        }
        self.run_waiting().await;
        self.grant(freed).await;
    }

    /// Attempts finished: their acks go out together, and their slots take waiting tasks (or
    /// are granted to the broker again).
    pub(crate) async fn attempts_done(&mut self, finished: Vec<Done>) -> Result<(), Disconnected> {
        for done in &finished {
            self.running.remove(done.lease_id);
            self.settings
                .metrics
                .task_ran(&done.meta.name, done.elapsed);
        }
        let count = u32::try_from(finished.len()).unwrap_or(u32::MAX);
        self.send_acks(finished.into_iter().map(Ack::new).collect())
            .await?;
        if !self.stopping {
            self.run_waiting().await;
            self.grant(count).await;
        }
        Ok(())
    }

    /// The broker answered acks: each accepted one is reported, each refused one logged and
    /// counted (the task is not done by that attempt).
    pub(crate) fn acks_answered(&mut self, answer: pb::AckManyResponse) {
        self.acks.answered(answer, &self.settings.metrics);
    }

    /// A step asks: the heartbeat's and lease keeper's ticks, the control step's answers.
    pub(crate) async fn step_request(&mut self, request: StepRequest) -> Result<(), Disconnected> {
        match request {
            StepRequest::Heartbeat => self.out.heartbeat().await,
            StepRequest::KeepLeases => self.keep_leases().await,
            StepRequest::Reply(reply) => self.out.control_reply(self.counted(reply)).await,
            StepRequest::Reconfigure { request_id, change } => {
                let reply = self.reconfigure(request_id, change).await;
                self.out.control_reply(self.counted(reply)).await
            }
        }
    }

    /// Warm shutdown begins: no task starts any more, running ones may finish until the
    /// returned deadline.
    pub(crate) fn shutdown_begun(&mut self) -> Instant {
        tracing::info!(
            running = self.running.len(),
            "warm shutdown: finishing running tasks"
        );
        self.stopping = true;
        Instant::now() + self.settings.shutdown_timeout
    }

    /// Cold shutdown (a second signal): the running attempts are stopped and never acked; the
    /// goodbye has the broker put them back at once.
    pub(crate) fn cold(&mut self) {
        tracing::warn!(
            running = self.running.len(),
            "cold shutdown: stopping running tasks"
        );
        self.running.stop_all();
    }

    /// The warm shutdown's deadline passed: as [`Session::cold`].
    pub(crate) fn deadline_passed(&mut self) {
        tracing::warn!(
            running = self.running.len(),
            "shutdown deadline passed; stopping running tasks"
        );
        self.running.stop_all();
    }

    /// The connection broke; the running tasks go on, and are reported on the next one.
    pub(crate) fn broken(&mut self) {
        tracing::warn!(running = self.running.len(), "session broke; reconnecting");
        self.acks.connection_ended();
    }

    /// An attempt finished while no connection was open: its ack waits for the next one.
    pub(crate) fn done_while_away(&mut self, done: Done) {
        self.running.remove(done.lease_id);
        self.settings
            .metrics
            .task_ran(&done.meta.name, done.elapsed);
        self.unsent.push(Ack::new(done));
    }

    /// Shutdown was asked while no connection was open.
    pub(crate) fn shutdown_while_away(&mut self) {
        self.stopping = true;
    }

    /// Warm shutdown is over: sends the answers to control commands still queued (a
    /// `shutdown` answered just before it took effect), then the goodbye, and reads the
    /// broker's answers to the last acks until it ends the stream, so it ends in order.
    pub(crate) async fn close(
        mut self,
        requests: &mut mpsc::Receiver<StepRequest>,
        mut from_broker: tonic::Streaming<pb::BrokerMessage>,
    ) {
        while let Ok(request) = requests.try_recv() {
            if let StepRequest::Reply(reply) = request {
                let _ = self.out.control_reply(self.counted(reply)).await;
            }
        }
        let _ = self.out.goodbye().await;
        // Dropping the sender ends the worker's side of the stream; the broker answers the
        // acks it has and then ends its side.
        self.out = ToBroker::channel().0;
        while let Ok(Some(message)) = from_broker.message().await {
            if let Some(pb::broker_message::Kind::Acked(answer)) = message.kind {
                self.acks.answered(answer, &self.settings.metrics);
            }
        }
        self.acks.connection_ended();
    }

    /// Queues a pushed task for a slot. One this worker has no handler for is rejected to the
    /// dead-letter set, and its credit is granted again.
    async fn admit(&mut self, task: pb::LeasedTask) {
        let registry = &self.settings.registry;
        tracing::debug!(task = %task.task_id, name = %task.name, attempt = task.attempt, queue = %task.queue, "task received");
        if registry.contains(&task.name) {
            self.waiting.push(task);
            return;
        }
        let reason = format!(
            "no handler for task {:?} in worker {} (it runs: {})",
            task.name,
            self.settings.worker_id,
            registry.names().join(", ")
        );
        tracing::warn!(task = %task.task_id, name = %task.name, "unknown task name; rejecting");
        self.settings
            .metrics
            .task_ended(&task.name, Outcome::Rejected);
        let reject = pb::NackRequest {
            task_id: task.task_id,
            lease_id: task.lease_id,
            action: Some(pb::nack_request::Action::Reject(pb::Reject { reason })),
        };
        let _ = self.out.nack(reject).await;
        self.grant(1).await;
    }

    /// Starts waiting tasks while slots are free and tells the broker in one `started` message
    /// (one lease change there); grants again the credits of pushed tasks that waited past
    /// their prefetch lease.
    async fn run_waiting(&mut self) {
        let now_ms = unix_now_ms();
        let mut started = Vec::new();
        while self.running.len() < usize::try_from(self.slots).unwrap_or(usize::MAX) {
            let Some(task) = self.waiting.pop_ready(now_ms, self.priority_aging_ms) else {
                break;
            };
            if task.expires_at_unix_ms > 0 && task.expires_at_unix_ms <= now_ms {
                self.expired_before_start(task).await;
                continue;
            }
            let task_id = task.task_id.clone();
            let lease_id = task.lease_id;
            let job = self.settings.job(task);
            let meta = job.meta.clone();
            let stop = self.pool.submit(job);
            self.running.insert(lease_id, meta, stop);
            started.push(pb::StartedTask { task_id, lease_id });
        }
        if !started.is_empty() {
            let _ = self.out.started(started).await;
        }
        let expired = self.waiting.take_expired();
        if expired > 0 {
            tracing::debug!(expired, "pushed tasks waited past their prefetch lease");
            self.grant(expired).await;
        }
    }

    /// A pushed task whose expiry passed while it waited here: it is not started, and goes back
    /// to the broker, which expires it by its own clock (or, should this worker's clock run
    /// ahead, hands it out again).
    async fn expired_before_start(&mut self, task: pb::LeasedTask) {
        tracing::info!(task = %task.task_id, name = %task.name, "task expired before it could start; not run");
        self.settings
            .metrics
            .task_ended(&task.name, Outcome::Expired);
        let requeue = pb::NackRequest {
            task_id: task.task_id,
            lease_id: task.lease_id,
            action: Some(pb::nack_request::Action::Requeue(pb::Requeue::default())),
        };
        let _ = self.out.nack(requeue).await;
        self.grant(1).await;
    }

    /// Sends acks; they wait for their answers, or, when the connection is gone, for the next
    /// connection.
    async fn send_acks(&mut self, acks: Vec<Ack>) -> Result<(), Disconnected> {
        let requests = acks.iter().map(|ack| ack.request.clone()).collect();
        match self.out.acks(requests).await {
            Ok(()) => {
                self.acks.sent(acks);
                Ok(())
            }
            Err(gone) => {
                self.unsent.extend(acks);
                Err(gone)
            }
        }
    }

    /// Extends the lease of every running task by the lease duration.
    async fn keep_leases(&self) -> Result<(), Disconnected> {
        for (lease_id, task_id) in self.running.leases() {
            self.out
                .extend(task_id, lease_id, self.settings.lease_duration)
                .await?;
        }
        Ok(())
    }
}
