//! Workflows as wholes: each has an id, its tasks' keys in canvas order and its tree (opaque
//! bytes the service encodes), and the grafts its tasks added when they ran (their tasks follow
//! the submitted ones, in graft order). A workflow is kept while any of its tasks is; revoking
//! its id revokes every task of it that has not finished. Its progress (tasks not finished,
//! tasks that ended without success) is kept beside it, derived, for the `workflow-submitted`
//! and `workflow-finished` events.

use std::sync::Arc;

use bytes::Bytes;

use super::command::{Enqueued, Outcome, Reply, Revocation, Write};
use super::ctx::Ctx;
use super::events::{Event, EventKind};
use super::task::{NewTask, TaskMeta, TaskState};
use super::task_id::TaskId;
use super::Engine;

/// A workflow the engine knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// Its key (the store's), from the command that created it.
    pub key: u64,
    /// Its id, as the client knows it.
    pub id: TaskId,
    /// Its tasks' keys, in canvas order.
    pub tasks: Vec<u64>,
    /// Its shape, for readers (encoded by the service; the engine does not look at it). Empty
    /// for a workflow made by a task outside any workflow that handed work on: that task alone.
    pub tree: Bytes,
    /// Work its tasks handed on, in order.
    pub grafts: Vec<Graft>,
}

/// Work a task handed on with its ack (a replacement, members it added): its tasks joined the
/// task's workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graft {
    /// The task that handed it on.
    pub by: u64,
    /// Its first task's key; its tasks are the `count` keys from here (sub-ids of one command).
    pub first: u64,
    /// How many tasks it has.
    pub count: u32,
    /// How many of them, from the first, replace `by`; the rest were added.
    pub replaced: u32,
    /// Its shape, for readers (opaque to the engine).
    pub tree: Bytes,
}

impl Graft {
    /// Its tasks' keys.
    pub fn keys(&self) -> impl Iterator<Item = u64> {
        self.first..self.first + u64::from(self.count)
    }
}

/// A graft as readers see it: indexes into its workflow's tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraftView {
    /// The index of the task that handed it on.
    pub by: usize,
    /// The index of its first task.
    pub first: usize,
    /// How many of its tasks replace `by`.
    pub replaced: usize,
    /// Its shape (indexes counted from its first task).
    pub tree: Bytes,
}

impl Workflow {
    /// Its grafts, with indexes into [`Workflow::tasks`].
    pub fn graft_views(&self) -> Vec<GraftView> {
        let grafted: usize = self.grafts.iter().map(|g| g.count as usize).sum();
        let mut first = self.tasks.len().saturating_sub(grafted);
        self.grafts
            .iter()
            .map(|graft| {
                let view = GraftView {
                    by: self.tasks.iter().position(|&k| k == graft.by).unwrap_or(0),
                    first,
                    replaced: graft.replaced as usize,
                    tree: graft.tree.clone(),
                };
                first += graft.count as usize;
                view
            })
            .collect()
    }

    /// Adds a graft and its tasks.
    pub fn add_graft(&mut self, graft: Graft) {
        self.tasks.extend(graft.keys());
        self.grafts.push(graft);
    }

    /// The tasks that replace `key` (of its latest replacement), if it replaced itself.
    pub(super) fn replacement_of(&self, key: u64) -> Vec<u64> {
        self.grafts
            .iter()
            .rev()
            .find(|g| g.by == key && g.replaced > 0)
            .map(|g| g.keys().take(g.replaced as usize).collect())
            .unwrap_or_default()
    }
}

/// How far a workflow got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Progress {
    /// Tasks not finished.
    unfinished: usize,
    /// Tasks that ended without success (or were deleted unfinished).
    failed: usize,
}

impl Engine {
    /// Creates a workflow's tasks and the workflow, all or nothing (see `canvas.rs`). Its key
    /// is the sub-id after its tasks'.
    pub(super) fn enqueue_workflow(
        &mut self,
        id: TaskId,
        tree: Bytes,
        mut tasks: Vec<NewTask>,
        ctx: Ctx,
    ) -> Outcome {
        let key = ctx.sub_id(tasks.len());
        for task in &mut tasks {
            if let Some(flow) = task.flow.as_mut() {
                flow.workflow = key;
            }
        }
        let count = tasks.len();
        let mut out = self.enqueue(tasks, ctx);
        let Reply::Enqueued(results) = &out.reply else {
            return out;
        };
        if results
            .iter()
            .any(|r| !matches!(r, Enqueued::Created { .. }))
        {
            return out;
        }
        let workflow = Workflow {
            key,
            id,
            tasks: (0..count).map(|i| ctx.sub_id(i)).collect(),
            tree,
            grafts: Vec::new(),
        };
        out.writes
            .push(Write::PutWorkflow(Box::new(workflow.clone())));
        let progress = self.progress_of(&workflow);
        out.events.push(Event {
            task_id: Some(workflow.id.clone()),
            note: Some(format!("{count} tasks").into()),
            ..Event::new(EventKind::WorkflowSubmitted, ctx.now_ms)
        });
        let key = workflow.key;
        self.add_workflow(workflow);
        self.progress.insert(key, progress);
        self.finish_if_done(key, ctx, &mut out.events);
        out
    }

    /// `count` tasks are about to join the workflow `key`, not finished yet (their later
    /// transitions count from there).
    pub(super) fn workflow_grows(&mut self, key: u64, count: usize) {
        if let Some(progress) = self.progress.get_mut(&key) {
            progress.unfinished += count;
        }
    }

    /// A workflow's progress, counted from its tasks' states.
    pub(super) fn progress_of(&self, workflow: &Workflow) -> Progress {
        let mut progress = Progress::default();
        for key in &workflow.tasks {
            match self.tasks.get(key).map(|m| m.state) {
                Some(state) if !state.is_terminal() => progress.unfinished += 1,
                Some(TaskState::Succeeded) => {}
                // Ended without success, or deleted before it finished.
                _ => progress.failed += 1,
            }
        }
        progress
    }

    /// After a task of the workflow `key` went `from` → `to` (`from` is `None` for a task
    /// deleted unfinished): its progress, and `workflow-finished` when the last task ends.
    pub(super) fn workflow_progress(
        &mut self,
        key: u64,
        from: Option<TaskState>,
        to: TaskState,
        ctx: Ctx,
        out: &mut Outcome,
    ) {
        let Some(progress) = self.progress.get_mut(&key) else {
            return;
        };
        let ended = |s: TaskState| s.is_terminal();
        match from {
            Some(from) if !ended(from) && ended(to) => {
                progress.unfinished = progress.unfinished.saturating_sub(1);
                if to != TaskState::Succeeded {
                    progress.failed += 1;
                }
            }
            // A dead letter replayed.
            Some(from) if ended(from) && !ended(to) => {
                progress.unfinished += 1;
                progress.failed = progress.failed.saturating_sub(1);
                return;
            }
            None => {
                progress.unfinished = progress.unfinished.saturating_sub(1);
                progress.failed += 1;
            }
            _ => return,
        }
        self.finish_if_done(key, ctx, &mut out.events);
    }

    /// `workflow-finished` for the workflow `key` when nothing of it is left to run.
    pub(super) fn finish_if_done(&self, key: u64, ctx: Ctx, events: &mut Vec<Event>) {
        let (Some(progress), Some(workflow)) = (self.progress.get(&key), self.workflows.get(&key))
        else {
            return;
        };
        if progress.unfinished > 0 {
            return;
        }
        let (state, note) = if progress.failed == 0 {
            (TaskState::Succeeded, "every task succeeded".to_owned())
        } else {
            (
                TaskState::Failed,
                format!(
                    "{} of {} tasks did not succeed",
                    progress.failed,
                    workflow.tasks.len()
                ),
            )
        };
        events.push(Event {
            task_id: Some(workflow.id.clone()),
            state: Some(state),
            note: Some(note.into()),
            ..Event::new(EventKind::WorkflowFinished, ctx.now_ms)
        });
    }

    /// Puts back stored workflows after a restart.
    pub fn restore_workflows(&mut self, stored: impl IntoIterator<Item = Workflow>) {
        for workflow in stored {
            let progress = self.progress_of(&workflow);
            self.progress.insert(workflow.key, progress);
            self.add_workflow(workflow);
        }
    }

    pub(super) fn add_workflow(&mut self, workflow: Workflow) {
        self.workflow_ids
            .insert(Arc::from(workflow.id.to_string()), workflow.key);
        self.workflows.insert(workflow.key, workflow);
    }

    /// Whether a workflow has this id.
    pub(super) fn is_workflow(&self, id: &str) -> bool {
        self.workflow_ids.contains_key(id)
    }

    /// The workflow with this id, and its tasks still kept (in canvas order; a task deleted
    /// after its result's time to live is left out).
    pub fn workflow(&self, id: &str) -> Option<(&Workflow, Vec<&TaskMeta>)> {
        let workflow = self
            .workflow_ids
            .get(id)
            .and_then(|key| self.workflows.get(key))?;
        let tasks = workflow
            .tasks
            .iter()
            .filter_map(|key| self.tasks.get(key).map(|m| &**m))
            .collect();
        Some((workflow, tasks))
    }

    /// After a task was deleted: a task deleted unfinished counts as not succeeded, and its
    /// workflow goes with its last task.
    pub(super) fn task_deleted(&mut self, meta: &TaskMeta, ctx: Ctx, out: &mut Outcome) {
        let Some(key) = meta.cold().flow.as_ref().map(|f| f.workflow) else {
            return;
        };
        if !meta.state.is_terminal() {
            self.workflow_progress(key, None, meta.state, ctx, out);
        }
        let Some(workflow) = self.workflows.get(&key) else {
            return;
        };
        if workflow.tasks.iter().any(|k| self.tasks.contains_key(k)) {
            return;
        }
        self.workflow_ids.remove(workflow.id.to_string().as_str());
        self.workflows.remove(&key);
        self.progress.remove(&key);
        out.writes.push(Write::DeleteWorkflow(key));
    }

    /// Revokes every unfinished task of the workflow `id`; `None` when no workflow has it.
    /// What each revoked task was doing goes to `matched`.
    pub(super) fn revoke_workflow(
        &mut self,
        id: &str,
        ctx: Ctx,
        matched: &mut Vec<(TaskId, Revocation)>,
        out: &mut Outcome,
    ) -> Option<Revocation> {
        let keys = self
            .workflow_ids
            .get(id)
            .and_then(|key| self.workflows.get(key))?
            .tasks
            .clone();
        let mut revoked_any = false;
        for &key in &keys {
            let Some(meta) = self.tasks.get(&key) else {
                continue;
            };
            if meta.state.is_terminal() {
                continue;
            }
            let task_id = meta.id.clone();
            let what = self.revoke_key(key, ctx, out);
            revoked_any = true;
            matched.push((task_id, what));
        }
        if revoked_any {
            return Some(Revocation::Waiting);
        }
        // Everything had finished: the workflow ended as its last task did.
        let last = keys
            .last()
            .and_then(|key| self.tasks.get(key))
            .map(|m| m.state);
        Some(Revocation::Finished(
            last.unwrap_or(super::TaskState::Succeeded),
        ))
    }
}
