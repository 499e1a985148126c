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
        let Some(status) = self.broker.get_workflow(&id)? else {
            return Err(Status::not_found(format!(
                "no workflow has id {id:?} (never created, or all of its tasks were deleted \
                 after their results' time to live)"
            )));
        };
        let corrupt = |err: prost::DecodeError| {
            Status::data_loss(format!(
                "workflow {id:?}: its stored tree does not decode: {err}"
            ))
        };
        // A task that handed work on outside any workflow became one: itself.
        let tree = if status.tree.is_empty() {
            pb::WorkflowTree {
                kind: Some(pb::workflow_tree::Kind::Task(0)),
            }
        } else {
            pb::WorkflowTree::decode(status.tree).map_err(corrupt)?
        };
        let grafts = status
            .grafts
            .into_iter()
            .map(|view| {
                let mut graft = pb::WorkflowGraft::decode(view.tree).map_err(corrupt)?;
                graft.task = index(view.by);
                let first = index(view.first);
                graft.replaced_by.iter_mut().for_each(|t| offset(t, first));
                graft.added.iter_mut().for_each(|t| offset(t, first));
                Ok(graft)
            })
            .collect::<Result<_, Status>>()?;
        let statuses = status.tasks;
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
            grafts,
        })
    }
}

/// An index into a workflow's tasks, as the wire gives it (a workflow holds far fewer than
/// 2^32 tasks).
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Moves a graft's tree, whose leaves count from its first task, to count from the
/// workflow's first (`first` is the graft's first task's index).
fn offset(tree: &mut pb::WorkflowTree, first: u32) {
    use pb::workflow_tree::Kind;
    match &mut tree.kind {
        Some(Kind::Task(i)) => *i = i.saturating_add(first),
        Some(Kind::Chain(trees) | Kind::Group(trees)) => {
            trees.parts.iter_mut().for_each(|t| offset(t, first));
        }
        Some(Kind::Chord(chord)) => {
            chord.header.iter_mut().for_each(|t| offset(t, first));
            chord.body.iter_mut().for_each(|t| offset(t, first));
        }
        None => {}
    }
}
