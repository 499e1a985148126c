//! State transitions and the indexes that follow them: every change of a task's state goes
//! through [`Engine::transition`] (or [`Engine::delete`]), which keeps the indexes, counts,
//! unique keys, limits and the store in step.

use super::command::{Outcome, Timer, Write};
use super::ctx::Ctx;
use super::events;
use super::queues::Queues;
use super::task::{TaskMeta, TaskResult, TaskState};
use super::timers::Timers;
use super::Engine;

/// What a transition sets besides the state.
#[derive(Default)]
pub(super) struct Change {
    pub(super) ready_seq: Option<u64>,
    pub(super) due_ms: Option<u64>,
    pub(super) result: Option<TaskResult>,
    /// A move to READY that recovery derives from the stored record anyway (a SCHEDULED or
    /// RETRYING task whose time came): not written, which saves a write per delayed task.
    pub(super) derivable: bool,
}

impl Engine {
    /// Moves a task to a new state, keeping indexes, counts, unique keys and the store in step.
    /// Returns the state it ended in (EXPIRED instead of a waiting state when its time is up).
    pub(super) fn transition(
        &mut self,
        key: u64,
        mut to: TaskState,
        change: Change,
        ctx: Ctx,
        out: &mut Outcome,
    ) -> TaskState {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return to;
        };
        // One lookup for a task outside a workflow: the ack path's cost stays as it was.
        let workflow = meta.cold().flow.as_ref().map(|f| f.workflow);
        let meta = if to == TaskState::Succeeded && workflow.is_some() {
            // Written before the success itself (see `canvas`).
            self.flow_succeeded(key, change.result.as_ref(), ctx, out);
            let Some(meta) = self.tasks.get_mut(&key) else {
                return to;
            };
            meta
        } else {
            meta
        };
        if to.is_waiting() && meta.expires_at_ms().is_some_and(|at| at <= ctx.now_ms) {
            to = TaskState::Expired;
        }
        unindex(&mut self.queues, &mut self.timers, meta);
        let from = meta.state;
        // The attempt that ends here, if one ran: its start, for its runtime.
        let ran_since = (from == TaskState::Leased && !meta.cold().prefetched)
            .then(|| meta.cold().started_ms)
            .filter(|&started| started > 0);
        let freed = if self.limits.is_empty() {
            Vec::new()
        } else {
            self.limits.leaving(meta, &mut self.queues)
        };
        meta.state = to;
        if let Some(cold) = meta.cold.as_deref_mut() {
            cold.lease_id = 0;
            cold.prefetched = false;
        }
        if let Some(seq) = change.ready_seq {
            meta.ready_seq = seq;
        }
        meta.due_ms = match to {
            TaskState::Scheduled | TaskState::Retrying => change.due_ms.unwrap_or(ctx.now_ms),
            // A delayed task keeps its due time: it has waited since then (priority aging).
            TaskState::Ready if matches!(from, TaskState::Scheduled | TaskState::Retrying) => {
                meta.due_ms
            }
            _ => 0,
        };
        if to.is_terminal() {
            let purge_at_ms = if to == TaskState::Failed {
                0
            } else {
                ctx.now_ms.saturating_add(self.config.result_ttl_ms)
            };
            let cold = meta.cold_mut();
            cold.finished_ms = ctx.now_ms;
            cold.purge_at_ms = purge_at_ms;
            if let Some(unique) = meta.unique_key() {
                let slot = (meta.queue.clone(), unique.clone());
                if self.unique.get(&slot) == Some(&key) {
                    self.unique.remove(&slot);
                }
            }
            out.finished.push(meta.id.clone());
        } else if let Some(cold) = meta.cold.as_deref_mut() {
            cold.finished_ms = 0;
            cold.purge_at_ms = 0;
        }
        index(
            &mut self.queues,
            &mut self.timers,
            meta,
            &mut out.timers_moved,
        );
        if to == TaskState::Ready {
            out.ready_in(&meta.queue);
        }
        events::of_transition(from, ran_since, meta, ctx.now_ms, &mut out.events);
        if !(change.derivable && to == TaskState::Ready) {
            out.writes
                .push(Write::Update(Box::new(((**meta).clone(), change.result))));
        }
        if !freed.is_empty() {
            self.freed(freed, out);
        }
        if let Some(workflow) = workflow {
            if to.is_terminal() && to != TaskState::Succeeded {
                self.flow_ended(key, to, ctx, out);
            }
            self.workflow_progress(workflow, Some(from), to, ctx, out);
        }
        to
    }

    pub(super) fn delete(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) {
        let Some(meta) = self.tasks.remove(&key) else {
            return;
        };
        let freed = if self.limits.is_empty() {
            Vec::new()
        } else {
            self.limits.leaving(&meta, &mut self.queues)
        };
        if !freed.is_empty() {
            self.freed(freed, out);
        }
        unindex(&mut self.queues, &mut self.timers, &meta);
        self.ids.remove(&meta.id, key);
        if let Some(unique) = meta.unique_key() {
            let slot = (meta.queue.clone(), unique.clone());
            if self.unique.get(&slot) == Some(&key) {
                self.unique.remove(&slot);
            }
        }
        if !meta.state.is_terminal() {
            out.finished.push(meta.id.clone());
        }
        out.writes.push(Write::Delete(key));
        if meta.cold().flow.as_ref().is_some_and(|f| f.inputs() > 0) {
            out.writes.push(Write::DeleteFlowInputs(key));
        }
        self.task_deleted(&meta, ctx, out);
    }
}

/// Adds a task to the indexes of its current state.
pub(super) fn index(queues: &mut Queues, timers: &mut Timers, meta: &TaskMeta, moved: &mut u8) {
    let (_, queue) = queues.entry(&meta.queue);
    queue.counts.moved(None, Some(meta.state));
    match meta.state {
        TaskState::Ready => queue.push_ready(meta.priority, meta.ready_seq, meta.key),
        TaskState::Scheduled | TaskState::Retrying => {
            *moved |= timers.insert(Timer::Due, meta.due_ms, meta.key);
        }
        TaskState::Leased => {
            if let Some(lease) = meta.lease() {
                *moved |= timers.insert(Timer::Lease, lease.deadline_ms, meta.key);
            }
        }
        TaskState::Failed => {
            queue.dead.insert(meta.key);
        }
        TaskState::Succeeded | TaskState::Revoked | TaskState::Expired | TaskState::Waiting => {}
    }
    if meta.state.is_waiting() {
        if let Some(at) = meta.expires_at_ms() {
            *moved |= timers.insert(Timer::Expiry, at, meta.key);
        }
    }
    let purge_at_ms = meta.cold().purge_at_ms;
    if meta.state.is_terminal() && purge_at_ms > 0 {
        *moved |= timers.insert(Timer::Purge, purge_at_ms, meta.key);
    }
}

/// Removes a task from the indexes of its current state. READY entries are left in their lane
/// and skipped later as stale (see `Queue::ready`).
pub(super) fn unindex(queues: &mut Queues, timers: &mut Timers, meta: &TaskMeta) {
    if let Some(queue) = queues.get_mut(&meta.queue) {
        queue.counts.moved(Some(meta.state), None);
        if meta.state == TaskState::Failed {
            queue.dead.remove(&meta.key);
        }
    }
    match meta.state {
        TaskState::Scheduled | TaskState::Retrying => {
            timers.remove(Timer::Due, meta.due_ms, meta.key);
        }
        TaskState::Leased => {
            if let Some(lease) = meta.lease() {
                timers.remove(Timer::Lease, lease.deadline_ms, meta.key);
            }
        }
        _ => {}
    }
    if meta.state.is_waiting() {
        if let Some(at) = meta.expires_at_ms() {
            timers.remove(Timer::Expiry, at, meta.key);
        }
    }
    let purge_at_ms = meta.cold().purge_at_ms;
    if meta.state.is_terminal() && purge_at_ms > 0 {
        timers.remove(Timer::Purge, purge_at_ms, meta.key);
    }
}
