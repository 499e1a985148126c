//! `Engine::apply`: one handler per command.

use std::sync::Arc;

use super::backoff::retry_delay_ms;
use super::command::{
    AckOutcome, Command, Ctx, Enqueued, Granted, NackAction, NewTask, Outcome, Reply, Timer, When,
    Write,
};
use super::task::{Lease, TaskCold, TaskError, TaskMeta, TaskResult, TaskState};
use super::{index, unindex, Engine, EngineError};

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

/// Tasks one lease may park before it leaves the rest of a queue to the next lease, so one
/// command never runs long however many tasks a limit holds back.
const PARK_BUDGET: usize = 1000;

impl Engine {
    /// Applies one command at the time and sequence number of `ctx`.
    ///
    /// # Errors
    /// [`EngineError::TaskNotFound`] for an unknown id, [`EngineError::StaleLease`] when a lease is
    /// not current. A refused command changes nothing. Enqueue never fails as a whole: refused
    /// tasks are reported in its reply.
    pub fn apply(&mut self, command: Command, ctx: Ctx) -> Result<Outcome, EngineError> {
        match command {
            Command::Enqueue(tasks) => Ok(self.enqueue(tasks, ctx)),
            Command::Lease {
                queues,
                max,
                lease_ms,
                prefetch,
            } => Ok(self.lease(&queues, max, lease_ms, prefetch, ctx)),
            Command::Ack {
                id,
                lease_id,
                outcome,
            } => self.ack(&id, lease_id, outcome, ctx, 0),
            Command::AckMany(acks) => Ok(self.ack_many(acks, ctx)),
            Command::Nack {
                id,
                lease_id,
                action,
            } => self.nack(&id, lease_id, action, ctx),
            Command::Extend {
                id,
                lease_id,
                lease_ms,
            } => self.extend(&id, lease_id, lease_ms, ctx),
            Command::Revoke(ids) => Ok(self.revoke(ids, ctx)),
            Command::Release { leases, cause } => Ok(self.release(leases, &cause, ctx)),
            Command::ExtendMany(leases) => Ok(self.extend_many(leases, ctx)),
            Command::Purge {
                queue,
                dead_letters,
            } => Ok(self.purge(&queue, dead_letters)),
            Command::Replay { queue, ids, limit } => Ok(self.replay(&queue, &ids, limit, ctx)),
            Command::Tick {
                timer: Timer::Schedule,
                limit,
            } => Ok(self.fire_schedules(limit, ctx)),
            Command::Tick {
                timer: Timer::Limit,
                limit,
            } => Ok(self.tick_limits(limit, ctx)),
            Command::Tick { timer, limit } => Ok(self.tick(timer, limit, ctx)),
            Command::PutSchedule(schedule) => Ok(self.put_schedule(*schedule, ctx)),
            Command::SetLimit { key, limit } => self.set_limit(key, limit),
            Command::DeleteSchedule(name) => self.delete_schedule(&name),
            Command::PauseSchedule { name, paused } => self.pause_schedule(&name, paused, ctx),
        }
    }

    fn enqueue(&mut self, tasks: Vec<NewTask>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Enqueued(Vec::new()));
        let mut results = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.into_iter().enumerate() {
            results.push(self.enqueue_one(task, ctx, i, &mut out));
        }
        out.reply = Reply::Enqueued(results);
        out
    }

    pub(super) fn enqueue_one(
        &mut self,
        mut task: NewTask,
        ctx: Ctx,
        i: usize,
        out: &mut Outcome,
    ) -> Enqueued {
        let existing = self.ids.get_id(&task.id, &self.tasks);
        if let Some(existing) = existing.and_then(|key| self.tasks.get(&key)) {
            return Enqueued::Existing {
                id: existing.id.clone(),
                state: existing.state,
            };
        }
        let (queue, _) = self.queues.entry(&task.queue);
        let unique_key: Option<Arc<str>> = task.unique_key.as_deref().map(Arc::from);
        if let Some(unique) = &unique_key {
            let live = self
                .unique
                .get(&(queue.clone(), unique.clone()))
                .and_then(|key| self.tasks.get(key));
            if let Some(live) = live {
                return Enqueued::Existing {
                    id: live.id.clone(),
                    state: live.state,
                };
            }
        }
        let expires_at_ms = task.expires.map(|w| w.resolve(ctx.now_ms));
        if expires_at_ms.is_some_and(|at| at <= ctx.now_ms) {
            return Enqueued::Refused(EngineError::InvalidArgument {
                field: "expires",
                message: "the task would expire before it could run; give a time in the future"
                    .into(),
            });
        }
        let due_ms = task.eta.map_or(0, |w| w.resolve(ctx.now_ms));
        let (state, due_ms) = if due_ms > ctx.now_ms {
            (TaskState::Scheduled, due_ms)
        } else {
            (TaskState::Ready, 0)
        };
        let key = ctx.sub_id(i);
        let headers: Vec<(Arc<str>, Arc<str>)> = std::mem::take(&mut task.body.headers)
            .into_iter()
            .map(|(name, value)| (Arc::from(name), Arc::from(value)))
            .collect();
        let cold =
            (expires_at_ms.is_some() || unique_key.is_some() || !headers.is_empty()).then(|| {
                Box::new(TaskCold {
                    expires_at_ms,
                    unique_key,
                    headers,
                    ..TaskCold::default()
                })
            });
        let meta = TaskMeta {
            key,
            id: task.id,
            name: self.intern_name(&task.name),
            queue,
            ready_seq: key,
            due_ms,
            enqueued_ms: ctx.now_ms,
            options: task.options,
            attempts: 0,
            // The service bounds payloads far below 4 GiB.
            payload_size: u32::try_from(task.body.payload.len()).unwrap_or(u32::MAX),
            priority: task.priority.min(9),
            state,
            cold,
        };
        if let Some(unique) = meta.unique_key() {
            self.unique
                .insert((meta.queue.clone(), unique.clone()), key);
        }
        self.ids.insert(&meta.id, key);
        index(
            &mut self.queues,
            &mut self.timers,
            &meta,
            &mut out.timers_moved,
        );
        if state == TaskState::Ready {
            out.ready_in(&meta.queue);
        }
        let id = meta.id.clone();
        out.writes
            .push(Write::Insert(Box::new((meta.clone(), task.body))));
        self.tasks.insert(key, Box::new(meta));
        Enqueued::Created { id, state }
    }

    fn lease(
        &mut self,
        queues: &[String],
        max: usize,
        lease_ms: Option<u64>,
        prefetch: bool,
        ctx: Ctx,
    ) -> Outcome {
        let mut out = Outcome::new(Reply::Leased(Vec::new()));
        out.durable = false;
        let mut granted = Vec::new();
        let limited = !self.limits.is_empty();
        for name in queues {
            if limited && !self.queue_open(name, ctx, &mut out) {
                continue;
            }
            let mut parked = 0;
            while granted.len() < max {
                let Some(key) = self.pop_ready(name, ctx.now_ms) else {
                    break;
                };
                let expired = self
                    .tasks
                    .get(&key)
                    .is_some_and(|m| m.expires_at_ms().is_some_and(|at| at <= ctx.now_ms));
                if expired {
                    self.transition(key, TaskState::Expired, Change::default(), ctx, &mut out);
                    continue;
                }
                // A task a limit holds back is parked; the ones behind it still go.
                if limited && !self.admit(key, ctx, &mut out) {
                    parked += 1;
                    if parked == PARK_BUDGET {
                        // The rest of this queue is looked at by the next lease.
                        if let Some((queue, _)) = self.queues.by_name.get_key_value(name.as_str()) {
                            let queue = queue.clone();
                            out.ready_in(&queue);
                        }
                        break;
                    }
                    if !self.queue_open(name, ctx, &mut out) {
                        break;
                    }
                    continue;
                }
                let lease_id = ctx.sub_id(granted.len());
                let Some(meta) = self.tasks.get_mut(&key) else {
                    continue;
                };
                unindex(&mut self.queues, &mut self.timers, meta);
                let deadline_ms = ctx.now_ms + lease_ms.unwrap_or(u64::from(meta.options.lease_ms));
                meta.state = TaskState::Leased;
                meta.attempts += 1;
                let cold = meta.cold_mut();
                cold.started_ms = ctx.now_ms;
                cold.prefetched = prefetch;
                meta.set_lease(Lease {
                    id: lease_id,
                    deadline_ms,
                });
                index(
                    &mut self.queues,
                    &mut self.timers,
                    meta,
                    &mut out.timers_moved,
                );
                out.writes
                    .push(Write::Update(Box::new(((**meta).clone(), None))));
                granted.push(Granted {
                    meta: (**meta).clone(),
                    lease_id,
                    deadline_ms,
                });
            }
        }
        out.reply = Reply::Leased(granted);
        out
    }

    /// Pops the next live READY task of a queue, highest priority first, skipping stale entries.
    fn pop_ready(&mut self, name: &str, now_ms: u64) -> Option<u64> {
        let aging_ms = self.config.priority_aging_ms;
        let queue = self.queues.get_mut(name)?;
        if queue.counts.ready == 0 {
            return None;
        }
        if aging_ms > 0 {
            return pop_aged(queue, &self.tasks, now_ms, aging_ms);
        }
        for lane in queue.ready.iter_mut().rev() {
            while let Some((seq, key)) = lane.pop_front() {
                let live = self
                    .tasks
                    .get(&key)
                    .is_some_and(|m| m.state == TaskState::Ready && m.ready_seq == seq);
                if live {
                    return Some(key);
                }
            }
        }
        None
    }

    /// Finds the task an ack, nack or extend names, and checks that its lease is current.
    /// `Ok(None)` means the same lease already completed the attempt with a compatible outcome.
    fn fenced(
        &self,
        id: &str,
        lease_id: u64,
        repeat_ok: impl Fn(TaskState) -> bool,
    ) -> Result<Option<u64>, EngineError> {
        let meta = self
            .get(id)
            .ok_or_else(|| EngineError::TaskNotFound { id: id.into() })?;
        if meta.lease().is_some_and(|l| l.id == lease_id) {
            return Ok(Some(meta.key));
        }
        if meta.cold().last_lease_id == lease_id && repeat_ok(meta.state) {
            return Ok(None);
        }
        let why = match meta.state {
            TaskState::Leased => "a newer attempt holds the task".to_string(),
            TaskState::Revoked => "the task was revoked".to_string(),
            s if s.is_terminal() => format!("the task already finished as {s:?}"),
            s => format!("the lease ended and the task is {s:?} again"),
        };
        Err(EngineError::StaleLease {
            id: id.into(),
            lease_id,
            why,
        })
    }

    /// Completes one attempt; `slot` picks this ack's sub-id when several share a command.
    fn ack(
        &mut self,
        id: &str,
        lease_id: u64,
        outcome: AckOutcome,
        ctx: Ctx,
        slot: usize,
    ) -> Result<Outcome, EngineError> {
        let success = matches!(outcome, AckOutcome::Success(_));
        let repeat_ok = |state: TaskState| (state == TaskState::Succeeded) == success;
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
        };
        out.reply = Reply::State(state);
        Ok(out)
    }

    fn ack_many(&mut self, acks: Vec<(String, u64, AckOutcome)>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::AckedMany(Vec::new()));
        out.durable = false;
        let mut results = Vec::with_capacity(acks.len());
        for (slot, (id, lease_id, outcome)) in acks.into_iter().enumerate() {
            match self.ack(&id, lease_id, outcome, ctx, slot) {
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
    fn lose_attempt(
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

    fn nack(
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

    fn extend(
        &mut self,
        id: &str,
        lease_id: u64,
        lease_ms: u64,
        ctx: Ctx,
    ) -> Result<Outcome, EngineError> {
        let key = self
            .fenced(id, lease_id, |_| false)?
            .ok_or_else(|| EngineError::StaleLease {
                id: id.into(),
                lease_id,
                why: "the attempt already completed".into(),
            })?;
        let deadline_ms = ctx.now_ms.saturating_add(lease_ms);
        let mut out = Outcome::new(Reply::Extended { deadline_ms });
        out.durable = false;
        if let Some(meta) = self.tasks.get_mut(&key) {
            unindex(&mut self.queues, &mut self.timers, meta);
            meta.set_lease(Lease {
                id: lease_id,
                deadline_ms,
            });
            // Only a started attempt is extended.
            meta.cold_mut().prefetched = false;
            index(
                &mut self.queues,
                &mut self.timers,
                meta,
                &mut out.timers_moved,
            );
        }
        Ok(out)
    }

    fn release(&mut self, leases: Vec<(String, u64, bool)>, cause: &str, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Released(0));
        // Like a lease expiry, a release can be derived again after a crash (leases are not
        // durable), so it does not wait for a flush.
        out.durable = false;
        let mut released = 0;
        for (id, lease_id, started) in leases {
            let Some(key) = self
                .get(&id)
                .filter(|m| m.lease().is_some_and(|l| l.id == lease_id))
                .map(|m| m.key)
            else {
                continue;
            };
            if started {
                let cause = TaskError {
                    kind: "WorkerLost".into(),
                    message: cause.to_string(),
                };
                self.lose_attempt(key, cause, ctx, &mut out);
            } else {
                if let Some(meta) = self.tasks.get_mut(&key) {
                    meta.attempts = meta.attempts.saturating_sub(1);
                }
                // The task keeps its place in the ready order, as after a lease expiry.
                self.transition(key, TaskState::Ready, Change::default(), ctx, &mut out);
            }
            released += 1;
        }
        out.reply = Reply::Released(released);
        out
    }

    fn extend_many(&mut self, leases: Vec<(String, u64, u64)>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::ExtendedMany(Vec::new()));
        out.durable = false;
        let results = leases
            .into_iter()
            .map(|(id, lease_id, lease_ms)| {
                let one = self.extend(&id, lease_id, lease_ms, ctx)?;
                out.timers_moved |= one.timers_moved;
                match one.reply {
                    Reply::Extended { deadline_ms } => Ok(deadline_ms),
                    _ => Ok(0),
                }
            })
            .collect();
        out.reply = Reply::ExtendedMany(results);
        out
    }

    fn revoke(&mut self, ids: Vec<String>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Revoked(Vec::new()));
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            let state = match self.get(&id).map(|m| (m.key, m.state)) {
                None => None,
                Some((_, state)) if state.is_terminal() => Some(state),
                Some((key, _)) => {
                    Some(self.transition(key, TaskState::Revoked, Change::default(), ctx, &mut out))
                }
            };
            states.push((id, state));
        }
        out.reply = Reply::Revoked(states);
        out
    }

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
        if to.is_waiting() && meta.expires_at_ms().is_some_and(|at| at <= ctx.now_ms) {
            to = TaskState::Expired;
        }
        unindex(&mut self.queues, &mut self.timers, meta);
        let from = meta.state;
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
        if !(change.derivable && to == TaskState::Ready) {
            out.writes
                .push(Write::Update(Box::new(((**meta).clone(), change.result))));
        }
        if !freed.is_empty() {
            self.freed(freed, out);
        }
        to
    }

    pub(super) fn delete(&mut self, key: u64, out: &mut Outcome) {
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
    }

    fn tick(&mut self, timer: Timer, limit: usize, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Ticked(0));
        // Every tick can be derived again from the stored state after a crash, so none waits
        // for a flush.
        out.durable = false;
        let due = self.timers.due(timer, ctx.now_ms, limit);
        for (i, &(_, key)) in due.iter().enumerate() {
            match timer {
                Timer::Due => {
                    let change = Change {
                        ready_seq: Some(ctx.sub_id(i)),
                        derivable: true,
                        ..Change::default()
                    };
                    self.transition(key, TaskState::Ready, change, ctx, &mut out);
                }
                Timer::Lease if self.tasks.get(&key).is_some_and(|m| m.cold().prefetched) => {
                    if let Some(meta) = self.tasks.get_mut(&key) {
                        meta.attempts = meta.attempts.saturating_sub(1);
                    }
                    // The task keeps its place in the ready order.
                    self.transition(key, TaskState::Ready, Change::default(), ctx, &mut out);
                }
                Timer::Lease => {
                    let cause = TaskError {
                        kind: "LeaseExpired".into(),
                        message: "the lease ran out with no ack or extension: the worker died, \
                                  was cut off or stalled"
                            .into(),
                    };
                    self.lose_attempt(key, cause, ctx, &mut out);
                }
                Timer::Expiry => {
                    self.transition(key, TaskState::Expired, Change::default(), ctx, &mut out);
                }
                Timer::Purge => self.delete(key, &mut out),
                // Handled above: schedules and limit wake-ups are not tasks.
                Timer::Schedule | Timer::Limit => {}
            }
        }
        if timer == Timer::Expiry {
            let tasks = &self.tasks;
            for queue in self.queues.by_name.values_mut() {
                queue.compact_if_stale(|seq, key| {
                    tasks
                        .get(&key)
                        .is_some_and(|m| m.state == TaskState::Ready && m.ready_seq == seq)
                });
            }
        }
        out.reply = Reply::Ticked(due.len());
        out
    }
}

/// Pops the READY task to lease next when priorities age: each lane's head (the oldest there)
/// counts one priority higher per `aging_ms` it has waited (since it became due, or since its
/// enqueue), so a low-priority task that waits long enough goes ahead of newer high-priority
/// ones. Equal effective priorities go in ready order. Only lane heads are compared.
fn pop_aged(
    queue: &mut super::queues::Queue,
    tasks: &std::collections::BTreeMap<u64, Box<TaskMeta>>,
    now_ms: u64,
    aging_ms: u64,
) -> Option<u64> {
    let live = |seq: u64, key: u64| {
        tasks
            .get(&key)
            .filter(|m| m.state == TaskState::Ready && m.ready_seq == seq)
    };
    // (effective priority, ready_seq, lane) of the best head so far.
    let mut best: Option<(u64, u64, usize)> = None;
    for (priority, lane) in queue.ready.iter_mut().enumerate() {
        while let Some(&(seq, key)) = lane.front() {
            let Some(meta) = live(seq, key) else {
                lane.pop_front();
                continue;
            };
            let since = if meta.due_ms > 0 {
                meta.due_ms
            } else {
                meta.enqueued_ms
            };
            let effective = priority as u64 + now_ms.saturating_sub(since) / aging_ms;
            let better = best.is_none_or(|(e, s, _)| effective > e || (effective == e && seq < s));
            if better {
                best = Some((effective, seq, priority));
            }
            break;
        }
    }
    let (_, _, lane) = best?;
    queue.ready[lane].pop_front().map(|(_, key)| key)
}
