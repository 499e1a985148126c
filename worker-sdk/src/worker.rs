//! The worker: one streaming session, a slot per unit of concurrency, acks on the stream.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use stalk_proto::v1 as pb;
use stalk_proto::v1::workers_client::WorkersClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::error::{TaskError, WorkerError};
use crate::registry::Registry;

/// Default concurrency: tasks run at once.
pub const DEFAULT_CONCURRENCY: u32 = 8;

/// Builds a [`Worker`].
#[derive(Debug)]
pub struct WorkerBuilder {
    addr: String,
    worker_id: Option<String>,
    queues: Vec<String>,
    concurrency: u32,
    registry: Registry,
}

/// A connected worker, ready to [`run`](Worker::run).
#[derive(Debug)]
pub struct Worker {
    channel: Channel,
    worker_id: String,
    queues: Vec<String>,
    concurrency: u32,
    registry: Registry,
}

/// A finished run of one task.
struct Done {
    task_id: String,
    lease_id: u64,
    result: Result<Vec<u8>, TaskError>,
}

fn msg(kind: pb::worker_message::Kind) -> pb::WorkerMessage {
    pb::WorkerMessage { kind: Some(kind) }
}

impl WorkerBuilder {
    /// Queues to take tasks from, in order. Default: `default`.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// How many tasks run at once; also the credits granted to the broker. Default 8.
    pub fn concurrency(mut self, tasks: u32) -> Self {
        self.concurrency = tasks;
        self
    }

    /// A stable id for this worker process. Default: `hostname-pid`.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// Registers an async handler (JSON arguments and result); see [`Registry::task`].
    pub fn task<A, R, F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        self.registry.task(name, handler);
        self
    }

    /// Connects to the broker.
    ///
    /// # Errors
    /// [`WorkerError::Config`] when no task is registered or the concurrency is 0;
    /// [`WorkerError::Connect`] when the broker cannot be reached.
    pub async fn connect(self) -> Result<Worker, WorkerError> {
        if self.registry.is_empty() {
            return Err(WorkerError::Config("register at least one task".into()));
        }
        if self.concurrency == 0 {
            return Err(WorkerError::Config("concurrency must be at least 1".into()));
        }
        let client = stalk_client::Client::connect(&self.addr)
            .await
            .map_err(WorkerError::Connect)?;
        let worker_id = self
            .worker_id
            .unwrap_or_else(|| format!("worker-{}", std::process::id()));
        Ok(Worker {
            channel: client.channel(),
            worker_id,
            queues: self.queues,
            concurrency: self.concurrency,
            registry: self.registry,
        })
    }
}

impl Worker {
    /// A builder for a worker of the broker at `addr` (`host:port` or a URL).
    pub fn builder(addr: impl Into<String>) -> WorkerBuilder {
        WorkerBuilder {
            addr: addr.into(),
            worker_id: None,
            queues: vec!["default".into()],
            concurrency: DEFAULT_CONCURRENCY,
            registry: Registry::default(),
        }
    }

    /// Runs tasks until `shutdown` resolves, then shuts down warm: takes no new task, lets the
    /// running ones finish and acknowledges them, and closes the session (the broker puts any
    /// task pushed but not started back in its queue at once).
    ///
    /// # Errors
    /// [`WorkerError::Session`] when the broker refuses or ends the session.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        let (to_broker, outbound) = mpsc::channel(256);
        let hello = pb::Hello {
            worker_id: self.worker_id.clone(),
            pid: std::process::id(),
            queues: self.queues.clone(),
            task_names: self.registry.names(),
            sdk_version: concat!("stalk-worker/", env!("CARGO_PKG_VERSION")).into(),
            ..pb::Hello::default()
        };
        let credit = pb::Credit {
            tasks: self.concurrency,
        };
        // Fresh channel with room for both.
        let _ = to_broker.try_send(msg(pb::worker_message::Kind::Hello(hello)));
        let _ = to_broker.try_send(msg(pb::worker_message::Kind::Credit(credit)));
        let mut from_broker = WorkersClient::new(self.channel.clone())
            .session(ReceiverStream::new(outbound))
            .await
            .map_err(WorkerError::Session)?
            .into_inner();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut running = 0usize;
        let mut stopping = false;
        tokio::pin!(shutdown);
        loop {
            if stopping && running == 0 {
                break;
            }
            tokio::select! {
                received = from_broker.message() => match received {
                    Ok(Some(message)) => {
                        if let Some(pb::broker_message::Kind::Tasks(batch)) = message.kind {
                            for task in batch.tasks {
                                if stopping {
                                    continue;
                                }
                                if self.start(task, &to_broker, &done_tx).await {
                                    running += 1;
                                }
                            }
                        }
                    }
                    Ok(None) if stopping => break,
                    Ok(None) => {
                        return Err(WorkerError::Session(tonic::Status::unavailable(
                            "the broker closed the session",
                        )))
                    }
                    Err(status) => return Err(WorkerError::Session(status)),
                },
                Some(done) = done_rx.recv() => {
                    let mut finished = vec![done];
                    while let Ok(more) = done_rx.try_recv() {
                        finished.push(more);
                    }
                    running -= finished.len();
                    let count = u32::try_from(finished.len()).unwrap_or(u32::MAX);
                    let acks = pb::AckManyRequest {
                        acks: finished.into_iter().map(ack).collect(),
                    };
                    if to_broker.send(msg(pb::worker_message::Kind::Acks(acks))).await.is_err() {
                        break;
                    }
                    if !stopping {
                        let credit = pb::Credit { tasks: count };
                        let _ = to_broker.send(msg(pb::worker_message::Kind::Credit(credit))).await;
                    }
                }
                () = &mut shutdown, if !stopping => {
                    tracing::info!(running, "warm shutdown: finishing running tasks");
                    stopping = true;
                }
            }
        }
        // A clean close: the broker releases what is left at once. Its answers to the last acks
        // are drained so the stream ends in order.
        let _ = to_broker
            .send(msg(pb::worker_message::Kind::Goodbye(pb::Goodbye {})))
            .await;
        drop(to_broker);
        while let Ok(Some(_)) = from_broker.message().await {}
        Ok(())
    }

    /// Starts one pushed task; returns whether it runs. A task this worker has no handler for
    /// is rejected to the dead-letter set, and its credit is granted again.
    async fn start(
        &self,
        task: pb::LeasedTask,
        to_broker: &mpsc::Sender<pb::WorkerMessage>,
        done: &mpsc::UnboundedSender<Done>,
    ) -> bool {
        let Some(handler) = self.registry.get(&task.name) else {
            let reason = format!(
                "no handler for task {:?} in worker {} (it runs: {})",
                task.name,
                self.worker_id,
                self.registry.names().join(", ")
            );
            tracing::warn!(task = %task.task_id, name = %task.name, "unknown task name; rejecting");
            let reject = pb::NackRequest {
                task_id: task.task_id,
                lease_id: task.lease_id,
                action: Some(pb::nack_request::Action::Reject(pb::Reject { reason })),
            };
            let _ = to_broker
                .send(msg(pb::worker_message::Kind::Nack(reject)))
                .await;
            let credit = pb::Credit { tasks: 1 };
            let _ = to_broker
                .send(msg(pb::worker_message::Kind::Credit(credit)))
                .await;
            return false;
        };
        let started = pb::Started {
            tasks: vec![pb::StartedTask {
                task_id: task.task_id.clone(),
                lease_id: task.lease_id,
            }],
        };
        let _ = to_broker
            .send(msg(pb::worker_message::Kind::Started(started)))
            .await;
        let done = done.clone();
        tokio::spawn(async move {
            // The handler runs in its own task so that a panic is reported as a failed attempt
            // instead of losing the slot.
            let result = match tokio::spawn(handler(task.payload)).await {
                Ok(result) => result,
                Err(join) => Err(TaskError::retry(
                    "Panic",
                    format!("the handler panicked: {join}"),
                )),
            };
            let _ = done.send(Done {
                task_id: task.task_id,
                lease_id: task.lease_id,
                result,
            });
        });
        true
    }
}

/// The ack for a finished run.
fn ack(done: Done) -> pb::AckRequest {
    let outcome = match done.result {
        Ok(value) => pb::ack_request::Outcome::Success(pb::TaskResult {
            value,
            content_type: "application/json".into(),
        }),
        Err(TaskError::Retry {
            kind,
            message,
            countdown,
        }) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: false,
            retry_in_ms: countdown.map_or(0, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
            }),
        }),
        Err(TaskError::Fatal { kind, message }) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: true,
            retry_in_ms: 0,
        }),
    };
    pb::AckRequest {
        task_id: done.task_id,
        lease_id: done.lease_id,
        outcome: Some(outcome),
    }
}
