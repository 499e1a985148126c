//! The task operations of the broker core, one typed method each: enqueue, lease, ack, nack,
//! extend, revoke, release and results.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Broker, BrokerError, Polling};
use crate::engine::{
    AckOutcome, Command, EngineError, Enqueued, Granted, NackAction, NewTask, Reply, RevokeReport,
    TaskBody, TaskId, TaskMeta, TaskResult, TaskState,
};
use crate::store::Store;

/// Tasks of an enqueue applied per engine command. Small, so a worker session waits at most
/// one chunk (about 0.3 ms) for its turn while a batch goes in: with 100, due tasks were
/// leased up to 200 ms late under a million-task enqueue. Batch throughput is the same.
const ENQUEUE_CHUNK: usize = 25;

/// Per ack, the task's state after it or why it was refused.
pub type AckResults = Vec<Result<TaskState, EngineError>>;

/// Per start, the running lease's deadline, or why it was refused and the task's state now.
pub type StartResults = Vec<Result<u64, (EngineError, Option<TaskState>)>>;

/// An ack to apply: task id, the lease that fences the attempt, how the attempt ended.
pub type AckItem = (String, u64, AckOutcome);

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

/// What `get_workflow` reports.
#[derive(Debug, Clone)]
pub struct WorkflowStatus {
    /// Its shape as submitted (encoded by the service; empty for a task that became a
    /// workflow by handing work on).
    pub tree: bytes::Bytes,
    /// The work its tasks handed on, in order.
    pub grafts: Vec<crate::engine::GraftView>,
    /// Its tasks, in canvas order then graft order.
    pub tasks: Vec<TaskStatus>,
}

impl Broker {
    /// Enqueues tasks, each created, found existing (same id or unique key) or refused on its
    /// own; the answer has one entry per task, in order, once all are durable.
    ///
    /// A batch is applied in chunks with a yield between them, so it does not hold the runtime
    /// for long: due tasks, leases and other callers get their turn. One multi-chunk batch goes
    /// in at a time: the engine applies one command at a time anyway, and without the gate every
    /// concurrent producer takes a turn between two of a worker session's (with four producers
    /// on two cores, due tasks waited over a second to be leased). The chunks are flushed
    /// together.
    ///
    /// # Errors
    /// [`BrokerError::Failed`] after a storage failure; [`StoreError::LowSpace`] (the whole
    /// batch refused) while the data directory's disk is under the free-space watermark;
    /// per-task refusals are in the answer.
    ///
    /// [`StoreError::LowSpace`]: crate::store::StoreError::LowSpace
    pub async fn enqueue(
        self: &Arc<Self>,
        tasks: Vec<NewTask>,
    ) -> Result<Vec<Enqueued>, BrokerError> {
        // Only new tasks are refused: acks and deletes are what frees the disk.
        self.check_free_space()?;
        let total = tasks.len();
        let mut pending = Vec::new();
        // A batch of one chunk is one command and yields nowhere: it needs no gate.
        let gate = if total > ENQUEUE_CHUNK {
            Some(self.enqueue_gate.lock().await)
        } else {
            None
        };
        let mut tasks = tasks.into_iter().peekable();
        while tasks.peek().is_some() {
            let chunk: Vec<_> = tasks.by_ref().take(ENQUEUE_CHUNK).collect();
            pending.push(self.submit(Command::Enqueue(chunk))?);
            if tasks.peek().is_some() {
                tokio::task::yield_now().await;
            }
        }
        drop(gate);
        let mut enqueued = Vec::with_capacity(total);
        for applied in pending {
            match applied.await?.reply {
                Reply::Enqueued(results) => enqueued.extend(results),
                other => return Err(BrokerError::unexpected("Enqueue", &other)),
            }
        }
        if enqueued.len() != total {
            return Err(BrokerError::UnexpectedReply {
                command: "Enqueue",
                reply: format!("{} outcomes for {total} tasks", enqueued.len()),
            });
        }
        Ok(enqueued)
    }

    /// Creates a workflow's tasks (each with its [`NewFlow`](crate::engine::NewFlow)) in one
    /// command, so it is created whole or refused whole. One outcome per task, in order.
    ///
    /// # Errors
    /// As [`Broker::enqueue`].
    pub async fn enqueue_workflow(
        self: &Arc<Self>,
        id: TaskId,
        tree: bytes::Bytes,
        tasks: Vec<NewTask>,
    ) -> Result<Vec<Enqueued>, BrokerError> {
        self.check_free_space()?;
        let command = Command::EnqueueWorkflow { id, tree, tasks };
        match self.execute(command).await?.reply {
            Reply::Enqueued(results) => Ok(results),
            other => Err(BrokerError::unexpected("Enqueue", &other)),
        }
    }

    /// Settles the workflow steps whose inputs were written before a restart but whose release
    /// or revoke was not; returns how many were settled.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn settle_flows(&self) -> Result<usize, BrokerError> {
        match self.execute(Command::SettleFlows).await?.reply {
            Reply::Ticked(settled) => Ok(settled),
            other => Err(BrokerError::unexpected("SettleFlows", &other)),
        }
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
        worker: Option<Arc<str>>,
    ) -> Result<Vec<LeasedTask>, BrokerError> {
        let deadline = Instant::now() + wait;
        // Registered before the first attempt, so a task that arrives in between wakes us.
        let ready = (!wait.is_zero()).then(|| self.ready.register(&queues));
        loop {
            let (outcome, store) = self
                .execute_reading(Command::Lease {
                    queues: queues.clone(),
                    max,
                    lease_ms,
                    prefetch,
                    worker: worker.clone(),
                })
                .await?;
            let granted = match outcome.reply {
                Reply::Leased(granted) => granted,
                other => return Err(BrokerError::unexpected("Lease", &other)),
            };
            let Some(ready) = ready.as_ref().filter(|_| granted.is_empty()) else {
                let store = store.expect("invariant: a lease is applied with its store");
                return with_bodies(&store, granted);
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

    /// A workflow's tree, grafts and tasks (in canvas order; one deleted after its result's
    /// time to live has no `meta`) with their results; `None` when no workflow has this id.
    ///
    /// # Errors
    /// Storage failures.
    pub fn get_workflow(&self, id: &str) -> Result<Option<WorkflowStatus>, BrokerError> {
        let (tree, grafts, tasks, store) = {
            let core = self.core.lock();
            let Some((workflow, _)) = core.engine.workflow(id) else {
                return Ok(None);
            };
            let tasks: Vec<Option<TaskMeta>> = workflow
                .tasks
                .iter()
                .map(|&key| core.engine.get_key(key).cloned())
                .collect();
            let store = core.storage(&self.settings).map(|s| s.store.clone());
            (workflow.tree.clone(), workflow.graft_views(), tasks, store)
        };
        let store = store?;
        let statuses = tasks
            .into_iter()
            .map(|meta| {
                let result = match &meta {
                    Some(m) if m.state == TaskState::Succeeded => store.result(m.key)?,
                    _ => None,
                };
                Ok::<_, BrokerError>(TaskStatus { meta, result })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(WorkflowStatus {
            tree,
            grafts,
            tasks: statuses,
        }))
    }

    /// The task's state and result, waiting up to `wait` for it to finish.
    ///
    /// # Errors
    /// [`BrokerError::ShuttingDown`] when shutdown begins during the wait; storage failures.
    pub async fn get_result(&self, id: &str, wait: Duration) -> Result<TaskStatus, BrokerError> {
        let deadline = Instant::now() + wait;
        loop {
            let mut finished = (!wait.is_zero()).then(|| self.results.subscribe(id));
            let (meta, store) = {
                let core = self.core.lock();
                let meta = core.engine.get(id).cloned();
                // The store of the engine the state was read from (it may be reopened after).
                let store = match &meta {
                    Some(m) if m.state == TaskState::Succeeded => Some(
                        core.storage(&self.settings)
                            .map(|storage| storage.store.clone()),
                    ),
                    _ => None,
                };
                (meta, store)
            };
            let done = meta.as_ref().is_none_or(|m| m.state.is_terminal());
            if done || Instant::now() >= deadline {
                drop(finished);
                self.results.release(id);
                let result = match (&meta, store) {
                    (Some(m), Some(store)) => store?.result(m.key)?,
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

    /// Completes one attempt; returns the task's state after it.
    ///
    /// # Errors
    /// [`EngineError::StaleLease`] when `lease_id` is not the task's current lease;
    /// [`EngineError::TaskNotFound`]; storage failures.
    pub async fn ack(
        &self,
        id: String,
        lease_id: u64,
        outcome: AckOutcome,
    ) -> Result<TaskState, BrokerError> {
        let command = Command::Ack {
            id,
            lease_id,
            outcome,
        };
        match self.execute(command).await?.reply {
            Reply::State(state) => Ok(state),
            other => Err(BrokerError::unexpected("Ack", &other)),
        }
    }

    /// Completes many attempts, each fenced and answered on its own, once they are durable.
    ///
    /// # Errors
    /// Storage failures; per-ack refusals are in the answer.
    pub async fn ack_many(&self, acks: Vec<AckItem>) -> Result<AckResults, BrokerError> {
        let outcome = self.execute(Command::AckMany(acks)).await?;
        acked_many(outcome.reply)
    }

    /// As [`Broker::ack_many`], but applied now: the returned future resolves with the answers
    /// once they are durable and borrows nothing, so a session can go on pushing tasks while the
    /// flush happens.
    ///
    /// # Errors
    /// As [`Broker::ack_many`]; the future fails if the flush does.
    pub fn ack_many_pipelined(
        self: &Arc<Self>,
        acks: Vec<AckItem>,
    ) -> Result<impl Future<Output = Result<AckResults, BrokerError>> + 'static, BrokerError> {
        let durable = self.submit(Command::AckMany(acks))?;
        Ok(async move { acked_many(durable.await?.reply) })
    }

    /// Gives one attempt back: requeued (with a delay) or rejected to the dead letters; returns
    /// the task's state after it.
    ///
    /// # Errors
    /// As [`Broker::ack`].
    pub async fn nack(
        &self,
        id: String,
        lease_id: u64,
        action: NackAction,
    ) -> Result<TaskState, BrokerError> {
        let command = Command::Nack {
            id,
            lease_id,
            action,
        };
        match self.execute(command).await?.reply {
            Reply::State(state) => Ok(state),
            other => Err(BrokerError::unexpected("Nack", &other)),
        }
    }

    /// Moves a lease's deadline to now + `lease_ms`; returns the new deadline (unix ms).
    ///
    /// # Errors
    /// As [`Broker::ack`].
    pub async fn extend(
        &self,
        id: String,
        lease_id: u64,
        lease_ms: u64,
    ) -> Result<u64, BrokerError> {
        let command = Command::Extend {
            id,
            lease_id,
            lease_ms,
        };
        match self.execute(command).await?.reply {
            Reply::Extended { deadline_ms } => Ok(deadline_ms),
            other => Err(BrokerError::unexpected("Extend", &other)),
        }
    }

    /// Starts pushed attempts, each (task id, lease id, running lease length in ms) answered on
    /// its own with the running lease's deadline, or why the start was refused (the task
    /// expired or was revoked, the lease ended) and the task's state now.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn start(
        &self,
        leases: Vec<(String, u64, u64)>,
    ) -> Result<StartResults, BrokerError> {
        match self.execute(Command::Start(leases)).await?.reply {
            Reply::Started(results) => Ok(results),
            other => Err(BrokerError::unexpected("Start", &other)),
        }
    }

    /// Revokes tasks by id and by header value; ids not known yet and header values are
    /// remembered for `remember_ms`, and tasks arriving with them are stored REVOKED. The
    /// holders of revoked leases hear of it through [`Broker::stopped_leases`].
    ///
    /// # Errors
    /// Storage failures; [`EngineError::Full`] when too many revocations are remembered.
    pub async fn revoke(
        &self,
        ids: Vec<String>,
        headers: Vec<(String, String)>,
        remember_ms: u64,
    ) -> Result<RevokeReport, BrokerError> {
        let command = Command::Revoke {
            ids,
            headers,
            remember_ms,
        };
        match self.execute(command).await?.reply {
            Reply::Revoked(report) => Ok(report),
            other => Err(BrokerError::unexpected("Revoke", &other)),
        }
    }

    /// Gives leases back without completing them: (task id, lease id, whether the attempt
    /// started); a started one is a lost attempt with `cause`. Returns how many were current.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn release(
        &self,
        leases: Vec<(String, u64, bool)>,
        cause: String,
    ) -> Result<usize, BrokerError> {
        match self
            .execute(Command::Release { leases, cause })
            .await?
            .reply
        {
            Reply::Released(n) => Ok(n),
            other => Err(BrokerError::unexpected("Release", &other)),
        }
    }
}

/// The granted tasks with their bodies, read from the store the lease was applied with.
fn with_bodies(store: &Store, granted: Vec<Granted>) -> Result<Vec<LeasedTask>, BrokerError> {
    granted
        .into_iter()
        .map(|g| {
            let mut body = store.body(g.meta.key)?.unwrap_or_else(|| {
                tracing::error!(task = %g.meta.id, "task body missing from the store");
                TaskBody::default()
            });
            if let Some(input) = &body.input {
                // A workflow step: the results it waited for go into its payload.
                let slots = g.meta.cold().flow.as_ref().map_or(0, |f| f.inputs());
                let inputs = store.flow_inputs(g.meta.key, slots)?;
                body.payload = crate::engine::assemble(&body.payload, input, &inputs);
            }
            Ok(LeasedTask {
                meta: g.meta,
                lease_id: g.lease_id,
                deadline_ms: g.deadline_ms,
                body,
            })
        })
        .collect()
}

fn acked_many(reply: Reply) -> Result<AckResults, BrokerError> {
    match reply {
        Reply::AckedMany(results) => Ok(results),
        other => Err(BrokerError::unexpected("AckMany", &other)),
    }
}
