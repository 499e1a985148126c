//! The `Workers.Session` stream: reads worker messages, drives a [`WorkerSession`], writes
//! broker messages. Validation and conversion only; the session logic is in `crate::sessions`.

use std::sync::Arc;
use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::workers_server::Workers;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{self, FieldError};
use super::status::wire_error;
use crate::broker::Broker;
use crate::config::SessionGrace;
use crate::sessions::{
    ControlRequest, SessionRegistry, Stop, WorkerReply, WorkerSession, MAX_CREDITS,
};

/// How long one lease attempt waits for ready tasks before looking again.
const POLL: Duration = Duration::from_secs(30);
/// How a session open across a reopen of the store ends.
const REOPENED: &str = "the broker reopened its data directory after a storage failure, which \
                        ended the leases granted before it; reconnect";

/// Serves `stalk.v1.Workers`.
#[derive(Debug, Clone)]
pub(crate) struct WorkersService {
    pub(crate) broker: Arc<Broker>,
    pub(crate) max_payload: usize,
    pub(crate) grace: SessionGrace,
    pub(crate) silence: Duration,
    /// The engine's priority aging, told to workers so they order their buffers the same way.
    pub(crate) priority_aging_ms: u64,
    pub(crate) registry: Arc<SessionRegistry>,
}

type Outbound = mpsc::Sender<Result<pb::BrokerMessage, Status>>;

#[tonic::async_trait]
impl Workers for WorkersService {
    type SessionStream = ReceiverStream<Result<pb::BrokerMessage, Status>>;

    #[tracing::instrument(level = "debug", skip_all)]
    async fn session(
        &self,
        request: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(pb::WorkerMessage {
                kind: Some(pb::worker_message::Kind::Hello(hello)),
            }) => hello,
            _ => {
                return Err(FieldError::invalid(
                    "kind",
                    "the first message of a session must be `hello`",
                )
                .into())
            }
        };
        let options = convert::session_options(&hello, self.grace)?;
        let session = WorkerSession::new(self.broker.clone(), options, self.registry.clone());
        let (tx, rx) = mpsc::channel(64);
        let session_id = uuid::Uuid::now_v7().to_string();
        let welcome = pb::broker_message::Kind::Welcome(pb::Welcome {
            session_id: session_id.clone(),
            priority_aging_ms: self.priority_aging_ms,
        });
        // The channel is fresh and larger than one message.
        let _ = tx.try_send(Ok(pb::BrokerMessage {
            kind: Some(welcome),
        }));
        tracing::info!(worker = %hello.worker_id, session = %session_id, "worker session opened");
        let service = self.clone();
        tokio::spawn(async move {
            let worker = hello.worker_id;
            let released = service.run(session, inbound, tx).await;
            tracing::info!(%worker, session = %session_id, released, "worker session closed");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn message(kind: pb::broker_message::Kind) -> Result<pb::BrokerMessage, Status> {
    Ok(pb::BrokerMessage { kind: Some(kind) })
}

impl WorkersService {
    /// Runs the session until the worker or the broker ends it; returns how many leases were
    /// released at the end.
    async fn run(
        &self,
        mut session: WorkerSession,
        mut inbound: Streaming<pb::WorkerMessage>,
        tx: Outbound,
    ) -> usize {
        let shutdown = self.broker.shutdown_signal();
        // A stream that ends without `goodbye` (a crash, a cut connection) keeps its running
        // leases for the reconnect grace; one the worker or the broker closed releases them.
        let mut clean = true;
        // Why the session ended, for the worker-offline event.
        let mut why = "clean";
        let silent = tokio::time::sleep(self.silence);
        tokio::pin!(silent);
        // Taken once per session, so always there.
        let mut control = session
            .control_requests()
            .unwrap_or_else(|| tokio::sync::mpsc::channel(1).1);
        let mut stopped = session
            .stopped_leases()
            .unwrap_or_else(|| self.broker.stopped_leases());
        let mut reopened = self.broker.reopened();
        loop {
            let more = session.credits() > 0;
            let next = session.next_tasks(POLL);
            tokio::select! {
                received = inbound.message() => match received {
                    Ok(Some(pb::WorkerMessage {
                        kind: Some(pb::worker_message::Kind::Goodbye(_)),
                    })) => break,
                    Ok(Some(msg)) => {
                        session.seen();
                        silent.as_mut().reset(tokio::time::Instant::now() + self.silence);
                        if let Err(status) = self.handle(&mut session, msg, &tx).await {
                            let _ = tx.send(Err(status)).await;
                            why = "refused";
                            break;
                        }
                    }
                    Ok(None) | Err(_) => {
                        clean = false;
                        why = "lost";
                        break;
                    }
                },
                leased = next, if more => match leased {
                    Ok(tasks) if tasks.is_empty() => {}
                    Ok(tasks) => {
                        session.pushed(&tasks);
                        let tasks = tasks.into_iter().map(convert::leased_task).collect();
                        let push = pb::broker_message::Kind::Tasks(pb::LeaseResponse { tasks });
                        if tx.send(message(push)).await.is_err() {
                            break;
                        }
                    }
                    Err(err) => {
                        let _ = tx.send(Err(err.into())).await;
                        break;
                    }
                },
                batch = stopped.recv() => {
                    let stops = session.stopped(batch);
                    if !stops.is_empty() && tx.send(message(stop_tasks(stops))).await.is_err() {
                        break;
                    }
                }
                Some(request) = control.recv() => {
                    if tx.send(message(control_request(request))).await.is_err() {
                        break;
                    }
                }
                () = &mut silent => {
                    tracing::warn!(silence = ?self.silence, "worker went silent; ending its session");
                    let _ = tx.send(Err(self.silent())).await;
                    clean = false;
                    why = "timed out";
                    break;
                }
                () = shutdown.cancelled() => {
                    let _ = tx.send(Err(Status::unavailable("broker shutting down"))).await;
                    why = "broker shut down";
                    break;
                }
                // The store was reopened after a failure: the leases this session holds ended
                // with the old engine, as after a restart. The worker reconnects.
                Ok(()) = reopened.changed() => {
                    let _ = tx.send(Err(Status::unavailable(REOPENED))).await;
                    why = "broker reopened its store";
                    break;
                }
            }
        }
        match session.close(clean, why).await {
            Ok(released) => released,
            Err(err) => {
                tracing::error!(cause = %err, "releasing a closed session's leases failed");
                0
            }
        }
    }

    /// How a session that sent nothing for too long is ended.
    fn silent(&self) -> Status {
        Status::deadline_exceeded(format!(
            "no message for {:?}; send heartbeats more often",
            self.silence
        ))
    }

    /// Handles one message from the worker; an error ends the session with that status.
    async fn handle(
        &self,
        session: &mut WorkerSession,
        msg: pb::WorkerMessage,
        tx: &Outbound,
    ) -> Result<(), Status> {
        use pb::worker_message::Kind;
        let reply = match msg.kind {
            Some(Kind::Heartbeat(_)) => {
                session.heartbeat();
                return Ok(());
            }
            Some(Kind::Goodbye(_)) => return Ok(()),
            Some(Kind::ControlReply(reply)) => return control_reply(session, reply),
            Some(Kind::Consume(consume)) => {
                session.consume(convert::consume_queues(consume)?);
                return Ok(());
            }
            Some(Kind::Hello(_)) | None => {
                return Err(FieldError::invalid("kind", "`hello` comes once, first").into())
            }
            Some(Kind::Credit(credit)) => return grant(session, &credit),
            Some(Kind::Started(started)) => {
                let leases: Vec<(String, u64)> = started
                    .tasks
                    .into_iter()
                    .map(|t| (t.task_id, t.lease_id))
                    .collect();
                let refused = session.started(&leases).await?;
                if refused.is_empty() {
                    return Ok(());
                }
                stop_tasks(refused)
            }
            Some(Kind::Acks(acks)) => return self.acks(session, acks, tx),
            Some(Kind::Nack(nack)) => nacked(session, nack, self.broker.clock().now_ms()).await?,
            Some(Kind::Extend(extend)) => extended(session, extend).await?,
        };
        tx.send(message(reply))
            .await
            .map_err(|_| Status::cancelled("the worker went away"))
    }

    /// Applies acks; the answer goes out once they are durable. Meanwhile the session keeps
    /// reading and pushing, so one flush does not stall the worker, and answers to different
    /// `acks` messages may overtake each other: each result names its task and lease.
    fn acks(
        &self,
        session: &mut WorkerSession,
        acks: pb::AckManyRequest,
        tx: &Outbound,
    ) -> Result<(), Status> {
        convert::batch("acks.acks", acks.acks.len())?;
        let now_ms = self.broker.clock().now_ms();
        let items = acks
            .acks
            .into_iter()
            .map(|ack| convert::ack_item(ack, self.max_payload, now_ms))
            .collect::<Result<Vec<_>, FieldError>>()?;
        let ids = convert::ack_ids(&items);
        let durable = session.ack(items)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let message = match durable.await {
                Ok(results) => message(pb::broker_message::Kind::Acked(convert::acked(
                    ids, results,
                ))),
                Err(err) => Err(err.into()),
            };
            let _ = tx.send(message).await;
        });
        Ok(())
    }
}

/// The wire form of a control command for the worker.
fn control_request(request: ControlRequest) -> pb::broker_message::Kind {
    pb::broker_message::Kind::Control(pb::ControlRequest {
        request_id: request.request_id,
        command: Some(convert::wire_command(request.command)),
    })
}

/// The message that tells the worker to drop or stop tasks whose leases ended.
fn stop_tasks(stops: Vec<Stop>) -> pb::broker_message::Kind {
    let tasks = stops
        .into_iter()
        .map(|stop| pb::StopTask {
            task_id: stop.task_id,
            lease_id: stop.lease_id,
            state: stop
                .state
                .map_or(pb::TaskState::Unknown, convert::state)
                .into(),
            reason: stop.reason,
        })
        .collect();
    pb::broker_message::Kind::Stop(pb::StopTasks { tasks })
}

/// Hands a worker's answer to a control command to the request waiting for it.
fn control_reply(session: &WorkerSession, reply: pb::ControlReply) -> Result<(), Status> {
    if reply.message.len() > 4096 || reply.details.len() > 64 {
        return Err(FieldError::invalid(
            "control_reply",
            "message over 4 KiB or more than 64 details",
        )
        .into());
    }
    session.control_reply(
        reply.request_id,
        WorkerReply {
            ok: reply.ok,
            message: reply.message,
            details: reply.details.into_iter().collect(),
            ..WorkerReply::default()
        },
    );
    Ok(())
}

/// Adds the worker's credits.
fn grant(session: &mut WorkerSession, credit: &pb::Credit) -> Result<(), Status> {
    if credit.tasks == 0 || credit.tasks > MAX_CREDITS {
        return Err(FieldError::invalid(
            "credit.tasks",
            format!("{} is outside 1..={MAX_CREDITS}", credit.tasks),
        )
        .into());
    }
    session.grant(credit.tasks);
    Ok(())
}

/// Gives an attempt back; a refusal is answered in the outcome, not by ending the session.
async fn nacked(
    session: &mut WorkerSession,
    nack: pb::NackRequest,
    now_ms: u64,
) -> Result<pb::broker_message::Kind, Status> {
    let action = convert::nack_action("nack.", nack.action, now_ms)?;
    let task_id = nack.task_id.clone();
    let outcome = match session.nack(nack.task_id, nack.lease_id, action).await {
        Ok(state) => pb::NackOutcome {
            task_id,
            state: convert::state(state).into(),
            error: None,
        },
        Err(err) => pb::NackOutcome {
            task_id,
            state: pb::TaskState::Unspecified.into(),
            error: Some(refusal(err)),
        },
    };
    Ok(pb::broker_message::Kind::Nacked(outcome))
}

/// Extends a lease; a refusal is answered in the outcome, not by ending the session.
async fn extended(
    session: &mut WorkerSession,
    extend: pb::ExtendLeaseRequest,
) -> Result<pb::broker_message::Kind, Status> {
    let lease_ms = convert::lease_ms("extend.lease_duration_ms", extend.lease_duration_ms)?
        .ok_or_else(|| FieldError::invalid("extend.lease_duration_ms", "is required"))?;
    let task_id = extend.task_id.clone();
    let outcome = match session
        .extend(extend.task_id, extend.lease_id, lease_ms)
        .await
    {
        Ok(deadline) => pb::ExtendOutcome {
            task_id,
            lease_deadline_unix_ms: convert::ms(deadline),
            error: None,
        },
        Err(err) => pb::ExtendOutcome {
            task_id,
            lease_deadline_unix_ms: 0,
            error: Some(refusal(err)),
        },
    };
    Ok(pb::broker_message::Kind::Extended(outcome))
}

/// A broker error as carried inside a session answer.
fn refusal(err: crate::broker::BrokerError) -> pb::Error {
    let status = Status::from(err);
    wire_error(status.code(), status.message().into())
}
