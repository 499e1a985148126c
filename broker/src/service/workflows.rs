//! Workflows on the `TaskQueue` service: creating one from an Enqueue, and `GetWorkflow`.

use prost::Message;
use stalk_proto::v1 as pb;
use tonic::Status;

use super::convert;
use super::tasks::{refused, TaskQueueService};
use crate::engine::{TaskId, TaskState};

/// Most workflows in one Enqueue.
pub(crate) const MAX_WORKFLOWS: usize = 100;

impl TaskQueueService {
    /// Checks and creates one workflow of an Enqueue; a refusal is its outcome's error.
    pub(crate) async fn enqueue_workflow(
        &self,
        i: usize,
        canvas: pb::Canvas,
        now_ms: u64,
    ) -> Result<pb::WorkflowOutcome, Status> {
        let mut generated_id = || TaskId::from_uuid(uuid::Uuid::now_v7());
        let path = format!("workflows[{i}]");
        let (tasks, tree) =
            match convert::workflow(&path, canvas, self.max_payload, now_ms, &mut generated_id) {
                Ok(compiled) => compiled,
                Err(err) => {
                    return Ok(pb::WorkflowOutcome {
                        error: refused(&err).error,
                        ..pb::WorkflowOutcome::default()
                    })
                }
            };
        let id = generated_id();
        let tree = tree.encode_to_vec().into();
        let mut task_ids = Vec::with_capacity(tasks.len());
        for outcome in self
            .broker
            .enqueue_workflow(id.clone(), tree, tasks)
            .await?
        {
            let outcome = convert::enqueued(outcome);
            if outcome.error.is_some() {
                // The engine refuses a workflow whole, with the same error for each task.
                return Ok(pb::WorkflowOutcome {
                    error: outcome.error,
                    ..pb::WorkflowOutcome::default()
                });
            }
            task_ids.push(outcome.task_id);
        }
        Ok(pb::WorkflowOutcome {
            task_ids,
            error: None,
            workflow_id: id.to_string(),
        })
    }

    /// `GetWorkflow` for a checked id.
    pub(crate) fn workflow_status(&self, id: String) -> Result<pb::GetWorkflowResponse, Status> {
        let Some((tree, statuses)) = self.broker.get_workflow(&id)? else {
            return Err(Status::not_found(format!(
                "no workflow has id {id:?} (never created, or all of its tasks were deleted \
                 after their results' time to live)"
            )));
        };
        let tree = pb::WorkflowTree::decode(tree).map_err(|err| {
            Status::data_loss(format!(
                "workflow {id:?}: its stored tree does not decode: {err}"
            ))
        })?;
        let states: Vec<Option<TaskState>> = statuses
            .iter()
            .map(|s| s.meta.as_ref().map(|m| m.state))
            .collect();
        let finished = states.iter().all(|s| s.is_none_or(TaskState::is_terminal));
        let succeeded = states
            .iter()
            .all(|s| s.is_none_or(|s| s == TaskState::Succeeded));
        let tasks = statuses
            .into_iter()
            .map(|status| convert::result_response(String::new(), status))
            .collect();
        Ok(pb::GetWorkflowResponse {
            workflow_id: id,
            tasks,
            tree: Some(tree),
            finished,
            succeeded,
        })
    }
}
