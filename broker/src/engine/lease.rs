//! Leasing and fencing: handing READY tasks out under leases (highest priority first, with
//! priority aging), checking that an ack, nack or extend names the current lease, moving lease
//! deadlines, and giving leases back when a worker session ends.

use std::sync::Arc;

use super::command::{Granted, Outcome, Reply, Write};
use super::ctx::Ctx;
use super::events::{Event, EventKind};
use super::lease_order::lease_rank;
use super::task::{Lease, TaskError, TaskMeta, TaskState};
use super::transitions::{index, unindex, Change};
use super::{Engine, EngineError};

/// Tasks one lease may park before it leaves the rest of a queue to the next lease, so one
/// command never runs long however many tasks a limit holds back.
const PARK_BUDGET: usize = 1000;

impl Engine {
    pub(super) fn lease(
        &mut self,
        queues: &[String],
        max: usize,
        (lease_ms, prefetch): (Option<u64>, bool),
        worker: Option<Arc<str>>,
        ctx: Ctx,
    ) -> Outcome {
        let mut out = Outcome::new(Reply::Leased(Vec::new()));
        out.durable = false;
        let mut granted = Vec::new();
        let limited = !self.limits.is_empty();
        for name in queues {
            if self.is_paused(name) {
                continue;
            }
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
                // Before the lease takes `due_ms` over: a delayed task was ready from its due time.
                let ready_ms = if meta.due_ms > 0 {
                    meta.due_ms
                } else {
                    meta.enqueued_ms
                };
                unindex(&mut self.queues, &mut self.timers, meta);
                let deadline_ms = ctx.now_ms + lease_ms.unwrap_or(u64::from(meta.options.lease_ms));
                meta.state = TaskState::Leased;
                meta.attempts += 1;
                let cold = meta.cold_mut();
                // A pushed task starts when its worker says so (`start.rs`); a leased one now.
                if !prefetch {
                    cold.started_ms = ctx.now_ms;
                }
                cold.prefetched = prefetch;
                cold.ready_ms = ready_ms;
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
                out.events.push(Event {
                    worker: worker.clone(),
                    ..Event::of_task(EventKind::Leased, meta, ctx.now_ms)
                });
                if !prefetch {
                    out.events
                        .push(Event::started(meta, worker.clone(), ctx.now_ms));
                }
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
    pub(super) fn fenced(
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

    /// The key of the task whose current lease this is; a completed attempt is refused too.
    pub(super) fn current(&self, id: &str, lease_id: u64) -> Result<u64, EngineError> {
        self.fenced(id, lease_id, |_| false)?
            .ok_or_else(|| EngineError::StaleLease {
                id: id.into(),
                lease_id,
                why: "the attempt already completed".into(),
            })
    }

    pub(super) fn extend(
        &mut self,
        id: &str,
        lease_id: u64,
        lease_ms: u64,
        ctx: Ctx,
    ) -> Result<Outcome, EngineError> {
        let key = self.current(id, lease_id)?;
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
            let cold = meta.cold_mut();
            if std::mem::take(&mut cold.prefetched) {
                out.events.push(Event::started(meta, None, ctx.now_ms));
            }
            index(
                &mut self.queues,
                &mut self.timers,
                meta,
                &mut out.timers_moved,
            );
        }
        Ok(out)
    }

    pub(super) fn release(
        &mut self,
        leases: Vec<(String, u64, bool)>,
        cause: &str,
        ctx: Ctx,
    ) -> Outcome {
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
}

/// Pops the READY task to lease next when priorities age: the lane head of the greatest
/// [`lease_rank`], so a low-priority task that waits long enough goes ahead of newer
/// high-priority ones. Only lane heads are compared; listings walk the same order.
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
    // (rank, lane) of the best head so far.
    let mut best = None;
    for (priority, lane) in queue.ready.iter_mut().enumerate() {
        while let Some(&(seq, key)) = lane.front() {
            let Some(meta) = live(seq, key) else {
                lane.pop_front();
                continue;
            };
            let rank = lease_rank(meta, now_ms, aging_ms);
            if best.is_none_or(|(b, _)| rank > b) {
                best = Some((rank, priority));
            }
            break;
        }
    }
    let (_, lane) = best?;
    queue.ready[lane].pop_front().map(|(_, key)| key)
}
