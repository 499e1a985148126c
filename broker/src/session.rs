//! A worker's streaming session, as broker logic (the gRPC stream is in `service/session.rs`):
//! credits, pushed tasks under short prefetch leases, running leases once started, and the
//! release of everything the session holds when it ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::{Broker, BrokerError, LeasedTask};
use crate::engine::{AckOutcome, Command, EngineError, NackAction, Reply, TaskState};

/// Most credits granted and unused at a time.
pub const MAX_CREDITS: u32 = 10_000;

/// How a session leases.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Queues in the order to try them.
    pub queues: Vec<String>,
    /// The lease of a started task; each task's own when `None`.
    pub run_lease_ms: Option<u64>,
    /// The lease of a pushed task that has not started.
    pub prefetch_ms: u64,
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
    held: HashMap<u64, Held>,
}

impl WorkerSession {
    /// A session with no credits yet.
    pub fn new(broker: Arc<Broker>, options: SessionOptions) -> Self {
        Self {
            broker,
            options,
            credits: 0,
            held: HashMap::new(),
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

    /// Leases held: pushed and not yet completed or released.
    pub fn held(&self) -> usize {
        self.held.len()
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
        async move { broker.lease(queues, max, Some(prefetch_ms), wait).await }
    }

    /// Records tasks pushed to the worker: each uses a credit and holds its prefetch lease.
    pub fn pushed(&mut self, tasks: &[LeasedTask]) {
        for task in tasks {
            self.credits = self.credits.saturating_sub(1);
            let run_lease_ms = self
                .options
                .run_lease_ms
                .unwrap_or_else(|| u64::from(task.meta.options.lease_ms));
            self.held.insert(
                task.lease_id,
                Held {
                    task_id: task.meta.id.to_string(),
                    started: false,
                    run_lease_ms,
                },
            );
        }
    }

    /// Turns the prefetch leases of tasks the worker began running into running leases. Leases
    /// that are no longer current are dropped from the session.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn started(&mut self, leases: &[u64]) -> Result<(), BrokerError> {
        for lease_id in leases {
            let Some(held) = self.held.get_mut(lease_id) else {
                continue;
            };
            held.started = true;
            let command = Command::Extend {
                id: held.task_id.clone(),
                lease_id: *lease_id,
                lease_ms: held.run_lease_ms,
            };
            match self.broker.execute(command).await {
                Ok(_) => {}
                Err(BrokerError::Engine(_)) => {
                    self.held.remove(lease_id);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Completes attempts, each fenced on its own.
    ///
    /// # Errors
    /// Storage failures; per-ack refusals are in the result.
    pub async fn ack(
        &mut self,
        acks: Vec<(String, u64, AckOutcome)>,
    ) -> Result<Vec<Result<TaskState, EngineError>>, BrokerError> {
        let leases: Vec<u64> = acks.iter().map(|(_, lease, _)| *lease).collect();
        let outcome = self.broker.execute(Command::AckMany(acks)).await?;
        for lease in leases {
            self.held.remove(&lease);
        }
        match outcome.reply {
            Reply::AckedMany(results) => Ok(results),
            _ => Ok(Vec::new()),
        }
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
        self.held.remove(&lease_id);
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
                self.held.remove(&lease_id);
                Err(err)
            }
        }
    }

    /// Ends the session: every lease it still holds goes back to its queue at once (an unstarted
    /// one without counting as an attempt). Returns how many were released.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn close(self) -> Result<usize, BrokerError> {
        if self.held.is_empty() {
            return Ok(0);
        }
        let leases = self
            .held
            .into_iter()
            .map(|(lease_id, held)| (held.task_id, lease_id, held.started))
            .collect();
        let outcome = self.broker.execute(Command::Release(leases)).await?;
        match outcome.reply {
            Reply::Released(n) => Ok(n),
            _ => Ok(0),
        }
    }
}
