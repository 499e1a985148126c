//! The `TaskQueue` service: enqueue, lease, ack, nack, extend, results, revoke.

use std::sync::Arc;

use stalk_proto::v1 as pb;
use stalk_proto::v1::task_queue_server::TaskQueue;
use tonic::{Request, Response, Status};

use super::convert::{self, FieldError};
use super::status::{engine_code, wire_error};
use crate::broker::{Broker, LeasedTask};
use crate::engine::{
    AckOutcome, Command, EngineError, Enqueued, NackAction, Reply, TaskId, TaskResult, TaskState,
};

/// Serves `stalk.v1.TaskQueue` over a [`Broker`].
#[derive(Debug, Clone)]
pub(crate) struct TaskQueueService {
    pub(crate) broker: Arc<Broker>,
    pub(crate) max_payload: usize,
    /// Lets one Enqueue call of several chunks apply them at a time. The engine applies one
    /// command at a time anyway; without the gate every concurrent producer takes a turn on the
    /// runtime between two of a worker session's, and with four producers on two cores due
    /// tasks waited over a second to be leased.
    pub(crate) enqueue_gate: Arc<tokio::sync::Mutex<()>>,
}

fn unexpected(reply: &Reply) -> Status {
    Status::internal(format!(
        "engine answered with an unexpected reply: {reply:?}"
    ))
}

/// Tasks of an Enqueue batch applied per engine command. Small, so a worker session waits at
/// most one chunk (about 0.3 ms) for its turn while a batch goes in: with 100, due tasks were
/// leased up to 200 ms late under a million-task enqueue. Batch throughput is the same.
const ENQUEUE_CHUNK: usize = 25;

#[tonic::async_trait]
impl TaskQueue for TaskQueueService {
    #[tracing::instrument(level = "debug", skip_all, fields(tasks = request.get_ref().tasks.len()))]
    async fn enqueue(
        &self,
        request: Request<pb::EnqueueRequest>,
    ) -> Result<Response<pb::EnqueueResponse>, Status> {
        let specs = request.into_inner().tasks;
        convert::batch("tasks", specs.len())?;
        let mut outcomes: Vec<Option<pb::EnqueueOutcome>> = Vec::with_capacity(specs.len());
        let mut accepted = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            match convert::new_task(i, spec, self.max_payload, || {
                TaskId::from_uuid(uuid::Uuid::now_v7())
            }) {
                Ok(task) => {
                    accepted.push(task);
                    outcomes.push(None);
                }
                Err(err) => outcomes.push(Some(refused(&err))),
            }
        }
        // Applied in chunks with a yield between them, so a big batch does not hold the
        // runtime for long: due tasks, leases and other callers get their turn. The chunks are
        // flushed together.
        let mut pending = Vec::new();
        // A batch of one chunk is one command and yields nowhere: it needs no gate.
        let gate = if accepted.len() > ENQUEUE_CHUNK {
            Some(self.enqueue_gate.lock().await)
        } else {
            None
        };
        let mut accepted = accepted.into_iter().peekable();
        while accepted.peek().is_some() {
            let chunk: Vec<_> = accepted.by_ref().take(ENQUEUE_CHUNK).collect();
            pending.push(self.broker.submit(Command::Enqueue(chunk))?);
            if accepted.peek().is_some() {
                tokio::task::yield_now().await;
            }
        }
        drop(gate);
        let mut slots = outcomes.iter_mut().filter(|o| o.is_none());
        for applied in pending {
            let outcome = applied.await?;
            let Reply::Enqueued(results) = outcome.reply else {
                return Err(unexpected(&outcome.reply));
            };
            for result in results {
                let slot = slots
                    .next()
                    .ok_or_else(|| Status::internal("engine answered more tasks than sent"))?;
                *slot = Some(enqueued(result));
            }
        }
        if slots.next().is_some() {
            return Err(Status::internal("engine answered fewer tasks than sent"));
        }
        Ok(Response::new(pb::EnqueueResponse {
            outcomes: outcomes.into_iter().flatten().collect(),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(worker = %request.get_ref().worker_id))]
    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        let req = request.into_inner();
        convert::lease_queues(&req.queues)?;
        let max = match req.max_tasks {
            0 => 1,
            n if n as usize > convert::MAX_BATCH => {
                return Err(FieldError::invalid(
                    "max_tasks",
                    format!("{n} is more than {}", convert::MAX_BATCH),
                )
                .into())
            }
            n => n as usize,
        };
        let wait = convert::wait_ms("wait_ms", req.wait_ms)?;
        let lease_ms = convert::lease_ms("lease_duration_ms", req.lease_duration_ms)?;
        if req.worker_id.len() > 256 {
            return Err(FieldError::invalid("worker_id", "is longer than 256 bytes").into());
        }
        let leased = self
            .broker
            .lease(req.queues, max, lease_ms, false, wait)
            .await?;
        let tasks = leased.into_iter().map(leased_task).collect();
        Ok(Response::new(pb::LeaseResponse { tasks }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %request.get_ref().task_id))]
    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let (id, lease_id, outcome) = ack_item(request.into_inner(), self.max_payload)?;
        let command = Command::Ack {
            id,
            lease_id,
            outcome,
        };
        let state = self.state_of(command).await?;
        Ok(Response::new(pb::AckResponse {
            state: convert::state(state).into(),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(acks = request.get_ref().acks.len()))]
    async fn ack_many(
        &self,
        request: Request<pb::AckManyRequest>,
    ) -> Result<Response<pb::AckManyResponse>, Status> {
        let acks = request.into_inner().acks;
        convert::batch("acks", acks.len())?;
        let items = acks
            .into_iter()
            .enumerate()
            .map(|(i, ack)| {
                ack_item(ack, self.max_payload).map_err(|mut err| {
                    err.field = format!("acks[{i}].{}", err.field);
                    err
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        let outcome = self.broker.execute(Command::AckMany(items)).await?;
        let Reply::AckedMany(results) = outcome.reply else {
            return Err(unexpected(&outcome.reply));
        };
        let results = results.into_iter().map(ack_result).collect();
        Ok(Response::new(pb::AckManyResponse { results }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %request.get_ref().task_id))]
    async fn nack(
        &self,
        request: Request<pb::NackRequest>,
    ) -> Result<Response<pb::NackResponse>, Status> {
        let req = request.into_inner();
        convert::task_id("task_id", &req.task_id)?;
        lease_id(req.lease_id)?;
        let action = match req.action {
            Some(pb::nack_request::Action::Requeue(requeue)) => {
                convert::requeue("requeue", &requeue)?
            }
            Some(pb::nack_request::Action::Reject(reject)) => {
                convert::reason(&reject.reason)?;
                NackAction::Reject {
                    reason: reject.reason,
                }
            }
            None => {
                return Err(
                    FieldError::invalid("action", "give exactly one of requeue and reject").into(),
                )
            }
        };
        let command = Command::Nack {
            id: req.task_id,
            lease_id: req.lease_id,
            action,
        };
        let state = self.state_of(command).await?;
        Ok(Response::new(pb::NackResponse {
            state: convert::state(state).into(),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %request.get_ref().task_id))]
    async fn extend_lease(
        &self,
        request: Request<pb::ExtendLeaseRequest>,
    ) -> Result<Response<pb::ExtendLeaseResponse>, Status> {
        let req = request.into_inner();
        convert::task_id("task_id", &req.task_id)?;
        lease_id(req.lease_id)?;
        let lease_ms = convert::lease_ms("lease_duration_ms", req.lease_duration_ms)?
            .ok_or_else(|| FieldError::invalid("lease_duration_ms", "is required"))?;
        let outcome = self
            .broker
            .execute(Command::Extend {
                id: req.task_id,
                lease_id: req.lease_id,
                lease_ms,
            })
            .await?;
        let Reply::Extended { deadline_ms } = outcome.reply else {
            return Err(unexpected(&outcome.reply));
        };
        Ok(Response::new(pb::ExtendLeaseResponse {
            lease_deadline_unix_ms: convert::ms(deadline_ms),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %request.get_ref().task_id))]
    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::GetResultResponse>, Status> {
        let req = request.into_inner();
        convert::task_id("task_id", &req.task_id)?;
        let wait = convert::wait_ms("wait_ms", req.wait_ms)?;
        let status = self.broker.get_result(&req.task_id, wait).await?;
        let Some(meta) = status.meta else {
            return Ok(Response::new(pb::GetResultResponse {
                task_id: req.task_id,
                state: pb::TaskState::Unknown.into(),
                ..pb::GetResultResponse::default()
            }));
        };
        let shows_error = matches!(meta.state, TaskState::Failed | TaskState::Retrying);
        Ok(Response::new(pb::GetResultResponse {
            task_id: meta.id.to_string(),
            state: convert::state(meta.state).into(),
            name: meta.name.to_string(),
            queue: meta.queue.to_string(),
            result: status.result.map(|r| pb::TaskResult {
                value: r.value,
                content_type: r.content_type,
            }),
            error: if shows_error {
                convert::error(meta.error())
            } else {
                None
            },
            attempts: meta.attempts,
            enqueued_at_unix_ms: convert::ms(meta.enqueued_ms),
            started_at_unix_ms: convert::ms(meta.cold().started_ms),
            finished_at_unix_ms: convert::ms(meta.cold().finished_ms),
            due_at_unix_ms: convert::ms(match meta.state {
                TaskState::Scheduled | TaskState::Retrying => meta.due_ms,
                _ => 0,
            }),
            result_expires_at_unix_ms: convert::ms(meta.cold().purge_at_ms),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(ids = request.get_ref().task_ids.len()))]
    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        let ids = request.into_inner().task_ids;
        convert::batch("task_ids", ids.len())?;
        for (i, id) in ids.iter().enumerate() {
            convert::task_id(&format!("task_ids[{i}]"), id)?;
        }
        let outcome = self.broker.execute(Command::Revoke(ids)).await?;
        let Reply::Revoked(states) = outcome.reply else {
            return Err(unexpected(&outcome.reply));
        };
        let outcomes = states
            .into_iter()
            .map(|(task_id, state)| pb::RevokeOutcome {
                task_id,
                state: state.map_or(pb::TaskState::Unknown, convert::state).into(),
            })
            .collect();
        Ok(Response::new(pb::RevokeResponse { outcomes }))
    }
}

impl TaskQueueService {
    async fn state_of(&self, command: Command) -> Result<TaskState, Status> {
        let outcome = self.broker.execute(command).await?;
        match outcome.reply {
            Reply::State(state) => Ok(state),
            other => Err(unexpected(&other)),
        }
    }
}

fn lease_id(value: u64) -> Result<(), FieldError> {
    if value == 0 {
        return Err(FieldError::invalid(
            "lease_id",
            "is required: pass the lease_id from the leased task",
        ));
    }
    Ok(())
}

fn refused(err: &FieldError) -> pb::EnqueueOutcome {
    pb::EnqueueOutcome {
        error: Some(wire_error(
            err.code,
            format!("{}: {}", err.field, err.message),
        )),
        ..pb::EnqueueOutcome::default()
    }
}

fn enqueued(result: Enqueued) -> pb::EnqueueOutcome {
    let created = matches!(result, Enqueued::Created { .. });
    match result {
        Enqueued::Created { id, state } | Enqueued::Existing { id, state } => pb::EnqueueOutcome {
            task_id: id.to_string(),
            created,
            state: convert::state(state).into(),
            error: None,
        },
        Enqueued::Refused(err) => pb::EnqueueOutcome {
            error: Some(wire_error(engine_code(&err), err.to_string())),
            ..pb::EnqueueOutcome::default()
        },
    }
}

/// Checks and converts one ack.
pub(crate) fn ack_item(
    req: pb::AckRequest,
    max_payload: usize,
) -> Result<(String, u64, AckOutcome), FieldError> {
    convert::task_id("task_id", &req.task_id)?;
    lease_id(req.lease_id)?;
    let outcome = match req.outcome {
        Some(pb::ack_request::Outcome::Success(result)) => {
            convert::result_value(&result.value, &result.content_type, max_payload)?;
            AckOutcome::Success(TaskResult {
                value: result.value,
                content_type: result.content_type,
            })
        }
        Some(pb::ack_request::Outcome::Failure(failure)) => AckOutcome::Failure {
            lost: match failure.lost {
                true if failure.fatal
                    || failure.retry_in_ms > 0
                    || failure.retry_at_unix_ms != 0 =>
                {
                    return Err(FieldError::invalid(
                        "failure.lost",
                        "a lost attempt is retried at once: leave fatal and the retry times unset",
                    ))
                }
                lost => lost,
            },
            retry_at: convert::retry_at(&failure)?,
            error: convert::failure(failure.error)?,
            fatal: failure.fatal,
        },
        None => {
            return Err(FieldError::invalid(
                "outcome",
                "give exactly one of success and failure",
            ))
        }
    };
    Ok((req.task_id, req.lease_id, outcome))
}

/// A leased task's headers: kept with its metadata, or in its body when it was stored by a
/// broker from before keyed limits.
fn headers(t: &LeasedTask) -> std::collections::HashMap<String, String> {
    let kept = &t.meta.cold().headers;
    if kept.is_empty() {
        return t.body.headers.clone().into_iter().collect();
    }
    kept.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The wire form of a leased task.
pub(crate) fn leased_task(t: LeasedTask) -> pb::LeasedTask {
    let headers = headers(&t);
    pb::LeasedTask {
        task_id: t.meta.id.to_string(),
        name: t.meta.name.to_string(),
        queue: t.meta.queue.to_string(),
        payload: t.body.payload,
        content_type: t.body.content_type,
        headers,
        priority: u32::from(t.meta.priority),
        lease_id: t.lease_id,
        attempt: t.meta.attempts,
        lease_deadline_unix_ms: convert::ms(t.deadline_ms),
        retries_left: t
            .meta
            .options
            .max_retries
            .saturating_sub(t.meta.retries_used()),
        enqueued_at_unix_ms: convert::ms(t.meta.enqueued_ms),
        soft_time_limit_ms: t.body.soft_time_limit_ms,
        time_limit_ms: t.body.time_limit_ms,
    }
}

/// The wire form of one ack's result.
pub(crate) fn ack_result(result: Result<TaskState, EngineError>) -> pb::AckManyResult {
    match result {
        Ok(state) => pb::AckManyResult {
            state: convert::state(state).into(),
            error: None,
        },
        Err(err) => pb::AckManyResult {
            state: pb::TaskState::Unspecified.into(),
            error: Some(wire_error(engine_code(&err), err.to_string())),
        },
    }
}
