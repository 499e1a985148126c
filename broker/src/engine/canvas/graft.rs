//! Work a running task hands on with its ack: a replacement (Celery's `self.replace`), and
//! members it adds to its workflow. The new tasks, the workflow's growth and the task's own
//! state are one atomic write, so a crash neither loses the work nor hands it on twice.
//!
//! A task that replaces itself does not end: it waits (WAITING, in [`FlowMode::Forward`]) for
//! its replacement's last tasks, whose results fill new input slots of it, and then ends as they
//! did: SUCCEEDED with their result (one task's as it is, a group's as a JSON list), or FAILED
//! with the first failure's kind. What waited for the task (the rest of a chain, a chord's
//! body) waits on, and gets that result. A task outside any workflow becomes one: a workflow of
//! the task's own id, so its tree and results can be read, and revoking the id stops it all.

use bytes::Bytes;

use super::super::command::{Outcome, Write};
use super::super::ctx::{Ctx, SUB_BITS};
use super::super::events::{Event, EventKind};
use super::super::task::{NewTask, TaskError, TaskResult, TaskState};
use super::super::transitions::Change;
use super::super::workflows::{Graft, Workflow};
use super::super::{Engine, EngineError};
use super::{FlowMode, FlowNode, Shape};

/// Most tasks one workflow may grow to through grafts.
pub const MAX_GRAFTED_WORKFLOW_TASKS: usize = 1_000_000;

/// Work a task hands on with its ack, as the service checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGraft {
    /// Its tasks, as a workflow's: flow links are indexes into this list. A replacement's come
    /// first.
    pub tasks: Vec<NewTask>,
    /// A replacement: its last tasks (indexes into `tasks`) in slot order and the shape their
    /// results make (slots counted from 0), and how many of `tasks` it has; `None` when the
    /// task only adds members.
    pub replacement: Option<Replacement>,
    /// Its shape, for readers (opaque to the engine).
    pub tree: Bytes,
}

/// The part of a graft that replaces the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// How many of the graft's tasks, from the first, it has.
    pub tasks: usize,
    /// Its last tasks, whose results make the task's.
    pub outputs: Vec<usize>,
    /// How their results make one value.
    pub shape: Shape,
}

impl Engine {
    /// Hands on `graft` from the leased task `key` (its ack was fenced): its tasks take the
    /// command's sub-ids from `*next_sub` on. Checked first, so a refusal changes nothing.
    pub(in crate::engine) fn graft(
        &mut self,
        key: u64,
        result: Option<TaskResult>,
        graft: NewGraft,
        (ctx, next_sub): (Ctx, &mut usize),
        out: &mut Outcome,
    ) -> Result<TaskState, EngineError> {
        let base = *next_sub;
        let count = graft.tasks.len();
        let (task_id, flow_inputs, joined) = {
            let meta = self
                .tasks
                .get(&key)
                .ok_or_else(|| EngineError::TaskNotFound {
                    id: format!("(key {key})"),
                })?;
            let flow = meta.cold().flow.as_deref();
            let joined = flow
                .map(|f| f.workflow)
                .filter(|w| self.workflows.contains_key(w));
            (meta.id.clone(), flow.map_or(0, FlowNode::inputs), joined)
        };
        let field = if graft.replacement.is_some() {
            "replace"
        } else {
            "add"
        };
        let refuse = |message: String| Err(EngineError::InvalidArgument { field, message });
        // One more sub-id for a new workflow's key.
        if base + count + 1 > 1 << SUB_BITS {
            return refuse(format!(
                "the acks of one call create at most {} tasks; send this ack on its own",
                (1usize << SUB_BITS) - base.min(1 << SUB_BITS)
            ));
        }
        let size = joined
            .and_then(|w| self.workflows.get(&w))
            .map_or(1, |w| w.tasks.len());
        if size + count > MAX_GRAFTED_WORKFLOW_TASKS {
            return refuse(format!(
                "the workflow of task {task_id} would hold {} tasks; at most \
                 {MAX_GRAFTED_WORKFLOW_TASKS}",
                size + count
            ));
        }
        if let Some(refused) = graft.tasks.iter().find_map(|t| self.refusal(t, ctx)) {
            return Err(refused);
        }
        if joined.is_none() && self.is_workflow(&task_id.to_string()) {
            return refuse(format!(
                "task {task_id} has the id of a workflow it is not part of, so it cannot become \
                 one"
            ));
        }
        *next_sub = base + count + 1;

        let workflow = match joined {
            Some(workflow) => workflow,
            None => self.become_workflow(key, ctx.sub_id(base + count), ctx, out),
        };
        let NewGraft {
            mut tasks,
            replacement,
            tree,
        } = graft;
        for task in &mut tasks {
            let flow = task.flow.get_or_insert_with(Default::default);
            flow.workflow = workflow;
            flow.feeds.iter_mut().for_each(|(index, _)| *index += base);
        }
        let replaced = replacement.as_ref().map_or(0, |r| r.tasks);
        if let Some(replacement) = replacement {
            let from = u32::try_from(flow_inputs).unwrap_or(u32::MAX);
            for (slot, &index) in (from..).zip(&replacement.outputs) {
                if let Some(flow) = tasks.get_mut(index).and_then(|t| t.flow.as_mut()) {
                    flow.key_feeds.push((key, slot));
                }
            }
            self.await_replacement(key, replacement, ctx, out);
        }
        self.workflow_grows(workflow, count);
        let keys: Vec<u64> = (base..base + count).map(|i| ctx.sub_id(i)).collect();
        for (i, task) in tasks.into_iter().enumerate() {
            self.enqueue_one(task, ctx, base + i, out);
        }
        let graft = Graft {
            by: key,
            first: ctx.sub_id(base),
            count: u32::try_from(count).unwrap_or(u32::MAX),
            replaced: u32::try_from(replaced).unwrap_or(u32::MAX),
            tree,
        };
        out.writes.push(Write::PutGraft {
            workflow,
            graft: Box::new(graft.clone()),
        });
        if let Some(w) = self.workflows.get_mut(&workflow) {
            w.add_graft(graft);
        }
        self.settle_arrivals(&keys, ctx, out);
        let state = match result {
            Some(result) => {
                let change = Change {
                    result: Some(result),
                    ..Change::default()
                };
                self.transition(key, TaskState::Succeeded, change, ctx, out)
            }
            None => self.tasks.get(&key).map_or(TaskState::Waiting, |m| m.state),
        };
        Ok(state)
    }

    /// Makes the task `key` (in no workflow) a workflow of its own id, with key `workflow`.
    fn become_workflow(&mut self, key: u64, workflow: u64, ctx: Ctx, out: &mut Outcome) -> u64 {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return workflow;
        };
        meta.cold_mut().flow = Some(Box::new(FlowNode::new(
            0,
            Vec::new(),
            workflow,
            FlowMode::FailFast,
        )));
        let made = Workflow {
            key: workflow,
            id: meta.id.clone(),
            tasks: vec![key],
            tree: Bytes::new(),
            grafts: Vec::new(),
        };
        out.writes.push(Write::PutWorkflow(Box::new(made.clone())));
        out.events.push(Event {
            task_id: Some(made.id.clone()),
            note: Some("a task handed work on".into()),
            ..Event::new(EventKind::WorkflowSubmitted, ctx.now_ms)
        });
        let progress = self.progress_of(&made);
        self.add_workflow(made);
        self.progress.insert(workflow, progress);
        workflow
    }

    /// The task `key` waits for its replacement's results in new input slots.
    fn await_replacement(
        &mut self,
        key: u64,
        replacement: Replacement,
        ctx: Ctx,
        out: &mut Outcome,
    ) {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return;
        };
        let cold = meta.cold_mut();
        // It has started: its expiry is behind it.
        cold.expires_at_ms = None;
        if let Some(flow) = cold.flow.as_deref_mut() {
            flow.forward_to(replacement.outputs.len(), replacement.shape);
        }
        self.transition(key, TaskState::Waiting, Change::default(), ctx, out);
    }

    /// Ends the replaced task `key` as its replacement ended, once it has (see the module).
    pub(in crate::engine) fn end_forward(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return;
        };
        if meta.state != TaskState::Waiting {
            return;
        }
        let Some(forward) = meta.cold().flow.as_ref().and_then(|f| f.forward.as_deref()) else {
            return;
        };
        if let Some(failure) = forward.failure() {
            let error = forwarded_error(&failure.value);
            meta.cold_mut().error = Some(error);
            self.transition(key, TaskState::Failed, Change::default(), ctx, out);
        } else if forward.is_complete() {
            let (value, content_type) = forward.result();
            let change = Change {
                result: Some(TaskResult {
                    value,
                    content_type: content_type.into(),
                }),
                ..Change::default()
            };
            self.transition(key, TaskState::Succeeded, change, ctx, out);
        }
    }
}

/// A replaced task's error from its replacement's failure, as stored in its slot.
fn forwarded_error(failure: &[u8]) -> TaskError {
    let parsed: serde_json::Value = serde_json::from_slice(failure).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let kind = text(&parsed["error"]["kind"]);
    TaskError {
        kind: if kind.is_empty() {
            "Failed".into()
        } else {
            kind
        },
        message: format!(
            "its replacement, task {}, did not succeed: {}",
            text(&parsed["task_id"]),
            text(&parsed["error"]["message"])
        ),
    }
}
