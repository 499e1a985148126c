//! The `TaskQueue` service: enqueue, lease, ack, nack, extend, results, revoke.

use std::sync::Arc;

use stalk_proto::v1 as pb;
use stalk_proto::v1::task_queue_server::TaskQueue;
use tonic::{Request, Response, Status};

use super::convert::{self, FieldError};
use super::status::wire_error;
use crate::broker::Broker;
use crate::engine::TaskId;

/// Serves `stalk.v1.TaskQueue` over a [`Broker`].
#[derive(Debug, Clone)]
pub(crate) struct TaskQueueService {
    pub(crate) broker: Arc<Broker>,
    pub(crate) max_payload: usize,
}

#[tonic::async_trait]
impl TaskQueue for TaskQueueService {
    #[tracing::instrument(level = "debug", skip_all, fields(tasks = request.get_ref().tasks.len()))]
    async fn enqueue(
        &self,
        request: Request<pb::EnqueueRequest>,
    ) -> Result<Response<pb::EnqueueResponse>, Status> {
        let pb::EnqueueRequest {
            tasks: specs,
            workflows,
        } = request.into_inner();
        let now_ms = self.broker.clock().now_ms();
        if workflows.len() > super::workflows::MAX_WORKFLOWS {
            return Err(FieldError::invalid(
                "workflows",
                format!(
                    "holds {} workflows; at most {} are allowed per call",
                    workflows.len(),
                    super::workflows::MAX_WORKFLOWS
                ),
            )
            .into());
        }
        if workflows.is_empty() || !specs.is_empty() {
            convert::batch("tasks", specs.len())?;
        }
        let mut outcomes: Vec<Option<pb::EnqueueOutcome>> = Vec::with_capacity(specs.len());
        let mut accepted = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            match convert::new_task(i, spec, self.max_payload, now_ms, || {
                TaskId::from_uuid(uuid::Uuid::now_v7())
            }) {
                Ok(task) => {
                    accepted.push(task);
                    outcomes.push(None);
                }
                Err(err) => outcomes.push(Some(refused(&err))),
            }
        }
        let mut enqueued = if accepted.is_empty() {
            Vec::new().into_iter()
        } else {
            self.broker.enqueue(accepted).await?.into_iter()
        };
        let mut workflow_outcomes = Vec::with_capacity(workflows.len());
        for (i, canvas) in workflows.into_iter().enumerate() {
            workflow_outcomes.push(self.enqueue_workflow(i, canvas, now_ms).await?);
        }
        let outcomes = outcomes
            .into_iter()
            .map(|refusal| match refusal {
                Some(refusal) => refusal,
                // The broker answers one outcome per task it was given.
                None => enqueued.next().map(convert::enqueued).unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::EnqueueResponse {
            outcomes,
            workflows: workflow_outcomes,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(worker = %request.get_ref().worker_id))]
    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        let req = request.into_inner();
        let ask = convert::lease_request(&req)?;
        let leased = self
            .broker
            .lease(
                req.queues,
                ask.max,
                ask.lease_ms,
                false,
                ask.wait,
                (!req.worker_id.is_empty()).then(|| Arc::from(req.worker_id.as_str())),
            )
            .await?;
        let tasks = leased.into_iter().map(convert::leased_task).collect();
        Ok(Response::new(pb::LeaseResponse { tasks }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %request.get_ref().task_id))]
    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let (id, lease_id, outcome) = convert::ack_item(
            request.into_inner(),
            self.max_payload,
            self.broker.clock().now_ms(),
        )?;
        let state = self.broker.ack(id, lease_id, outcome).await?;
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
        let now_ms = self.broker.clock().now_ms();
        let items = acks
            .into_iter()
            .enumerate()
            .map(|(i, ack)| {
                convert::ack_item(ack, self.max_payload, now_ms).map_err(|mut err| {
                    err.field = format!("acks[{i}].{}", err.field);
                    err
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        let ids = convert::ack_ids(&items);
        let results = self.broker.ack_many(items).await?;
        Ok(Response::new(convert::acked(ids, results)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(task = %request.get_ref().task_id))]
    async fn nack(
        &self,
        request: Request<pb::NackRequest>,
    ) -> Result<Response<pb::NackResponse>, Status> {
        let req = request.into_inner();
        convert::task_id("task_id", &req.task_id)?;
        convert::lease_id(req.lease_id)?;
        let action = convert::nack_action("", req.action, self.broker.clock().now_ms())?;
        let state = self.broker.nack(req.task_id, req.lease_id, action).await?;
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
        convert::lease_id(req.lease_id)?;
        let lease_ms = convert::lease_ms("lease_duration_ms", req.lease_duration_ms)?
            .ok_or_else(|| FieldError::invalid("lease_duration_ms", "is required"))?;
        let deadline_ms = self
            .broker
            .extend(req.task_id, req.lease_id, lease_ms)
            .await?;
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
        Ok(Response::new(convert::result_response(req.task_id, status)))
    }

    async fn get_workflow(
        &self,
        request: Request<pb::GetWorkflowRequest>,
    ) -> Result<Response<pb::GetWorkflowResponse>, Status> {
        let id = request.into_inner().workflow_id;
        convert::task_id("workflow_id", &id)?;
        Ok(Response::new(self.workflow_status(id)?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(ids = request.get_ref().task_ids.len()))]
    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        let (ids, headers, remember_ms) = convert::revoke_request(request.into_inner())?;
        let report = self.broker.revoke(ids, headers, remember_ms).await?;
        Ok(Response::new(convert::revoke_response(report)))
    }
}

pub(crate) fn refused(err: &FieldError) -> pb::EnqueueOutcome {
    pb::EnqueueOutcome {
        error: Some(wire_error(
            err.code,
            format!("{}: {}", err.field, err.message),
        )),
        ..pb::EnqueueOutcome::default()
    }
}
