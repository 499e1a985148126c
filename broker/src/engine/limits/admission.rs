//! Admission: deciding at lease time whether a task may go. A queue's own limits are checked
//! before its lanes are read; each task popped is checked against every limit that covers it,
//! and takes a token and a place under each cap if all have room, or is parked.

use std::sync::Arc;

use super::bucket::Bucket;
use super::parks::{parked_entry, Blocked, WAKE_QUEUES};
use super::state::{LimitState, Limits};
use super::Held;
use crate::engine::command::{Outcome, Timer};
use crate::engine::ctx::Ctx;
use crate::engine::task::TaskMeta;
use crate::engine::Engine;
use crate::engine::{Event, EventKind};

impl LimitState {
    /// Whether a task counted under `value` may be leased now; if not, what holds it.
    pub(super) fn check(
        &mut self,
        value: &Arc<str>,
        now_ms: u64,
    ) -> Result<(), (Held, Option<u64>)> {
        if let Some(rate) = self.limit.rate {
            if !self.buckets.contains_key(value) {
                self.sweep(now_ms);
                self.buckets
                    .insert(value.clone(), Bucket::new(rate, now_ms));
            }
            if let Some(bucket) = self.buckets.get_mut(value) {
                if bucket.tokens(now_ms) == 0 {
                    let until_ms = bucket.tokens_at_ms(1);
                    let limit = self.describe("rate limit", value);
                    return Err((Held { limit, until_ms }, Some(until_ms)));
                }
            }
        }
        if let Some(max) = self.limit.concurrency {
            let running = self.running.get(value).copied().unwrap_or(0);
            if running >= max {
                let limit = format!(
                    "{} ({running} of {max} running)",
                    self.describe("concurrency cap", value)
                );
                return Err((Held { limit, until_ms: 0 }, None));
            }
        }
        Ok(())
    }
}

impl Limits {
    /// The limits that cover tasks of `name` in `queue`.
    fn covering(&self, name: &str, queue: &str) -> impl Iterator<Item = u32> + '_ {
        let by_task = self.by_task.get(name).into_iter().flatten();
        let by_queue = self.by_queue.get(queue).into_iter().flatten();
        by_task.chain(by_queue).copied()
    }

    /// Whether the queue's own unkeyed limits have room now; if not, what holds it and when a
    /// token comes (`None`: when a lease ends).
    pub(crate) fn queue_open(
        &mut self,
        queue: &str,
        now_ms: u64,
    ) -> Result<(), (Held, Option<u64>)> {
        let unkeyed = self.unkeyed.clone();
        for id in self.by_queue.get(queue).into_iter().flatten() {
            if let Some(state) = self.states.get_mut(id) {
                if state.key.per.is_none() {
                    state.check(&unkeyed, now_ms)?;
                }
            }
        }
        Ok(())
    }

    /// Admits the task `meta` for a lease if every limit covering it has room, taking a token
    /// and counting the lease; else says which limit holds it back.
    pub(crate) fn admit(&mut self, meta: &TaskMeta, now_ms: u64) -> Result<(), Blocked> {
        let unkeyed = self.unkeyed.clone();
        let ids: Vec<u32> = self.covering(&meta.name, &meta.queue).collect();
        let mut covered = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(state) = self.states.get_mut(&id) else {
                continue;
            };
            let Some(value) = state.value_of(meta, &unkeyed) else {
                continue;
            };
            if let Err((held, token_at)) = state.check(&value, now_ms) {
                return Err(Blocked {
                    limit: id,
                    value,
                    held,
                    token_at,
                });
            }
            covered.push((id, value));
        }
        for (id, value) in covered {
            let Some(state) = self.states.get_mut(&id) else {
                continue;
            };
            if let Some(bucket) = state.buckets.get_mut(&value) {
                bucket.take();
            }
            if state.limit.concurrency.is_some() {
                *state.running.entry(value.clone()).or_default() += 1;
                self.charges.entry(meta.key).or_default().push((id, value));
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Whether the queue's own limits have room; if not, its leasers are woken when they do.
    pub(in crate::engine) fn queue_open(
        &mut self,
        name: &str,
        ctx: Ctx,
        out: &mut Outcome,
    ) -> bool {
        let Err((_, token_at)) = self.limits.queue_open(name, ctx.now_ms) else {
            return true;
        };
        if let Some((name, _)) = self.queues.by_name.get_key_value(name) {
            if self.limits.throttled.insert(name.clone()) {
                out.events.push(
                    Event {
                        queue: Some(name.clone()),
                        due_ms: token_at.unwrap_or(0),
                        ..Event::new(EventKind::QueueThrottled, ctx.now_ms)
                    }
                    .with_note(format!("rate limit queue:{name}")),
                );
            }
        }
        if let Some(at) = token_at {
            out.timers_moved |= self.timers.insert(Timer::Limit, at, WAKE_QUEUES);
        }
        false
    }

    /// Admits the READY task `key` (just popped from its lane) under every limit that covers
    /// it, or parks it with the tasks the same limit holds back.
    pub(in crate::engine) fn admit(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) -> bool {
        let Some(meta) = self.tasks.get(&key) else {
            return true;
        };
        let Err(blocked) = self.limits.admit(meta, ctx.now_ms) else {
            return true;
        };
        let held = Event {
            due_ms: blocked.held.until_ms,
            ..Event::of_task(EventKind::Held, meta, ctx.now_ms)
        }
        .with_note(blocked.held.limit.as_str());
        out.events.push(held);
        let parked = self.limits.park(meta, blocked);
        if let Some(queue) = self.queues.get_mut(&meta.queue) {
            queue.parked.insert(parked_entry(meta));
        }
        if let Some(at) = parked.timer_at {
            out.timers_moved |= self.timers.insert(Timer::Limit, at, parked.park);
        }
        false
    }
}
