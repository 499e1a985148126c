//! How an attempt ends: success, failure (retry with backoff, or dead letter), loss, nack and
//! requeue.

use super::backoff::retry_delay_ms;
use super::command::{AckOutcome, NackAction, Outcome, Reply, Write};
use super::ctx::{Ctx, When};
use super::events::{Event, EventKind};
use super::task::{TaskError, TaskState};
use super::transitions::Change;
use super::{Engine, EngineError};

impl Engine {
    /// Completes one attempt; `slot` picks this ack's sub-id when several share a command, and
    /// the tasks a graft creates take sub-ids from `*next_sub` on (past every ack's slot).
    pub(super) fn ack(
        &mut self,
        id: &str,
        lease_id: u64,
        outcome: AckOutcome,
        ctx: Ctx,
        (slot, next_sub): (usize, &mut usize),
    ) -> Result<Outcome, EngineError> {
        let repeat_ok = |state: TaskState| match &outcome {
            AckOutcome::Success(_)
            | AckOutcome::Graft {
                result: Some(_), ..
            } => state == TaskState::Succeeded,
            // A replaced task waits, then ends as its replacement did.
            AckOutcome::Graft { result: None, .. } => {
                state == TaskState::Waiting || state.is_terminal()
            }
            AckOutcome::Failure { .. } => state != TaskState::Succeeded,
        };
        let Some(key) = self.fenced(id, lease_id, repeat_ok)? else {
            let state = self.get(id).map_or(TaskState::Succeeded, |m| m.state);
            return Ok(Outcome::new(Reply::State(state)));
        };
        // Recorded before the transition, which writes the task as it then is.
        if let Some(meta) = self.tasks.get_mut(&key) {
            meta.cold_mut().last_lease_id = lease_id;
        }
        let mut out = Outcome::new(Reply::State(TaskState::Succeeded));
        let state = match outcome {
            AckOutcome::Success(result) => {
                let change = Change {
                    result: Some(result),
                    ..Change::default()
                };
                self.transition(key, TaskState::Succeeded, change, ctx, &mut out)
            }
            AckOutcome::Failure { error, lost, .. } if lost => {
                self.lose_attempt(key, error, ctx, &mut out)
            }
            AckOutcome::Failure {
                error,
                fatal,
                retry_at,
                ..
            } => self.fail_attempt(key, error, fatal, retry_at, (ctx, slot), &mut out),
            AckOutcome::Graft { result, graft } => {
                let state = self.graft(key, result, *graft, (ctx, next_sub), &mut out)?;
                out.writes = vec![Write::Atomic(std::mem::take(&mut out.writes))];
                state
            }
        };
        out.reply = Reply::State(state);
        Ok(out)
    }

    pub(super) fn ack_many(&mut self, acks: Vec<(String, u64, AckOutcome)>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::AckedMany(Vec::new()));
        out.durable = false;
        let mut results = Vec::with_capacity(acks.len());
        let mut next_sub = acks.len();
        for (slot, (id, lease_id, outcome)) in acks.into_iter().enumerate() {
            match self.ack(&id, lease_id, outcome, ctx, (slot, &mut next_sub)) {
                Ok(one) => {
                    if let Reply::State(state) = one.reply {
                        results.push(Ok(state));
                    }
                    out.durable |= one.durable;
                    out.writes.extend(one.writes);
                    for queue in &one.ready_queues {
                        out.ready_in(queue);
                    }
                    out.finished.extend(one.finished);
                    out.timers_moved |= one.timers_moved;
                    out.events.extend(one.events);
                }
                Err(err) => results.push(Err(err)),
            }
        }
        out.reply = Reply::AckedMany(results);
        out
    }

    fn fail_attempt(
        &mut self,
        key: u64,
        error: TaskError,
        fatal: bool,
        retry_at: Option<When>,
        (ctx, slot): (Ctx, usize),
        out: &mut Outcome,
    ) -> TaskState {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return TaskState::Failed;
        };
        meta.cold_mut().error = Some(error);
        if fatal || meta.retries_used() >= meta.options.max_retries {
            return self.transition(key, TaskState::Failed, Change::default(), ctx, out);
        }
        meta.cold_mut().retries_used += 1;
        let delay = retry_at.map_or_else(
            || {
                retry_delay_ms(
                    u64::from(meta.options.retry_backoff_ms),
                    u64::from(meta.options.retry_backoff_max_ms),
                    meta.retries_used(),
                    ctx.sub_id(slot),
                )
            },
            |at| at.resolve(ctx.now_ms).saturating_sub(ctx.now_ms),
        );
        self.requeue(key, delay, TaskState::Retrying, (ctx, slot), out)
    }

    /// An attempt was lost (its worker or process died, or its lease ran out): the task is READY
    /// again at its old place in the ready order, or FAILED with `cause` once its lost attempts
    /// pass `max_lost_attempts`, so a task that kills its workers cannot loop forever.
    pub(super) fn lose_attempt(
        &mut self,
        key: u64,
        mut cause: TaskError,
        ctx: Ctx,
        out: &mut Outcome,
    ) -> TaskState {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return TaskState::Failed;
        };
        let budget = meta.options.max_lost_attempts;
        let cold = meta.cold_mut();
        cold.lost_attempts += 1;
        let lost = cold.lost_attempts;
        let to = if lost > budget {
            cause.message = format!(
                "{} (lost attempt {lost}; max_lost_attempts is {budget}, so the task failed)",
                cause.message
            );
            TaskState::Failed
        } else {
            cause.message = format!("{} (lost attempt {lost} of {budget})", cause.message);
            TaskState::Ready
        };
        cold.error = Some(cause);
        out.events.push(Event {
            error: meta.cold().error.clone(),
            ..Event::of_task(EventKind::Lost, meta, ctx.now_ms)
        });
        self.transition(key, to, Change::default(), ctx, out)
    }

    /// Puts a task back to wait: READY now, or `later` (SCHEDULED or RETRYING) after `delay_ms`.
    fn requeue(
        &mut self,
        key: u64,
        delay_ms: u64,
        later: TaskState,
        (ctx, slot): (Ctx, usize),
        out: &mut Outcome,
    ) -> TaskState {
        let change = if delay_ms == 0 {
            Change {
                ready_seq: Some(ctx.sub_id(slot)),
                ..Change::default()
            }
        } else {
            Change {
                due_ms: Some(ctx.now_ms.saturating_add(delay_ms)),
                ..Change::default()
            }
        };
        let to = if delay_ms == 0 {
            TaskState::Ready
        } else {
            later
        };
        self.transition(key, to, change, ctx, out)
    }

    pub(super) fn nack(
        &mut self,
        id: &str,
        lease_id: u64,
        action: NackAction,
        ctx: Ctx,
    ) -> Result<Outcome, EngineError> {
        let Some(key) = self.fenced(id, lease_id, |s| s != TaskState::Succeeded)? else {
            let state = self.get(id).map_or(TaskState::Failed, |m| m.state);
            return Ok(Outcome::new(Reply::State(state)));
        };
        // Recorded before the transition, which writes the task as it then is.
        if let Some(meta) = self.tasks.get_mut(&key) {
            // A pushed task its worker gives back unstarted (e.g. expired in its buffer) was
            // no attempt.
            if meta.cold().prefetched {
                meta.attempts = meta.attempts.saturating_sub(1);
            }
            meta.cold_mut().last_lease_id = lease_id;
        }
        let mut out = Outcome::new(Reply::State(TaskState::Ready));
        let state = match action {
            NackAction::Requeue { at } => {
                let delay_ms = at.resolve(ctx.now_ms).saturating_sub(ctx.now_ms);
                self.requeue(key, delay_ms, TaskState::Scheduled, (ctx, 0), &mut out)
            }
            NackAction::Reject { reason } => {
                if let Some(meta) = self.tasks.get_mut(&key) {
                    meta.cold_mut().error = Some(TaskError {
                        kind: "Rejected".into(),
                        message: reason,
                    });
                }
                self.transition(key, TaskState::Failed, Change::default(), ctx, &mut out)
            }
        };
        out.reply = Reply::State(state);
        Ok(out)
    }
}
