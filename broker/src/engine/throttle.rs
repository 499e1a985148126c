//! Limits applied to the engine's tasks: admitting a task for a lease or parking it, putting
//! parked tasks back in their lanes when a limit has room, and setting limits at runtime.

use super::command::{Outcome, Reply, Timer, Write};
use super::ctx::Ctx;
use super::limits::{parked_entry, Freed, Limit, LimitKey};
use super::task::TaskState;
use super::{Engine, EngineError};

/// The `Limit` timer key that wakes the leasers of throttled queues; parks use their own ids,
/// which start at 1.
const WAKE_QUEUES: u64 = 0;

impl Engine {
    /// Whether the queue's own limits have room; if not, its leasers are woken when they do.
    pub(super) fn queue_open(&mut self, name: &str, ctx: Ctx, out: &mut Outcome) -> bool {
        let Err((_, token_at)) = self.limits.queue_open(name, ctx.now_ms) else {
            return true;
        };
        if let Some((name, _)) = self.queues.by_name.get_key_value(name) {
            self.limits.throttled.insert(name.clone());
        }
        if let Some(at) = token_at {
            out.timers_moved |= self.timers.insert(Timer::Limit, at, WAKE_QUEUES);
        }
        false
    }

    /// Admits the READY task `key` (just popped from its lane) under every limit that covers
    /// it, or parks it with the tasks the same limit holds back.
    pub(super) fn admit(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) -> bool {
        let Some(meta) = self.tasks.get(&key) else {
            return true;
        };
        let Err(blocked) = self.limits.admit(meta, ctx.now_ms) else {
            return true;
        };
        let parked = self.limits.park(meta, blocked);
        if let Some(queue) = self.queues.get_mut(&meta.queue) {
            queue.parked.insert(parked_entry(meta));
        }
        if let Some(at) = parked.timer_at {
            out.timers_moved |= self.timers.insert(Timer::Limit, at, parked.park);
        }
        false
    }

    /// Caps that counted an ended lease have room: one task of each park goes back.
    pub(super) fn freed(&mut self, freed: Vec<Freed>, out: &mut Outcome) {
        for Freed { park, whole_queue } in freed {
            if let Some(park) = park {
                let keys = self.limits.unpark(park, 1);
                self.back_to_lanes(keys, out);
            }
            if whole_queue {
                self.wake_throttled(out);
            }
        }
    }

    /// Parked tasks go back to their lanes, in their old places.
    fn back_to_lanes(&mut self, keys: Vec<u64>, out: &mut Outcome) {
        for key in keys {
            let Some(meta) = self.tasks.get(&key) else {
                continue;
            };
            if meta.state != TaskState::Ready {
                continue;
            }
            if let Some(queue) = self.queues.get_mut(&meta.queue) {
                queue.parked.remove(&parked_entry(meta));
                queue.push_ready(meta.priority, meta.ready_seq, key);
            }
            out.ready_in(&meta.queue);
        }
    }

    fn wake_throttled(&mut self, out: &mut Outcome) {
        for queue in std::mem::take(&mut self.limits.throttled) {
            out.ready_in(&queue);
        }
    }

    /// `Limit` timers: parks whose next tokens came let that many tasks go; throttled queues
    /// look again.
    pub(super) fn tick_limits(&mut self, limit: usize, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Ticked(0));
        out.durable = false;
        let due = self.timers.due(Timer::Limit, ctx.now_ms, limit);
        for &(at, id) in &due {
            self.timers.remove(Timer::Limit, at, id);
            if id == WAKE_QUEUES {
                self.wake_throttled(&mut out);
                continue;
            }
            let (keys, again) = self.limits.unpark_for_tokens(id, ctx.now_ms);
            self.back_to_lanes(keys, &mut out);
            if let Some(at) = again {
                out.timers_moved |= self.timers.insert(Timer::Limit, at, id);
            }
        }
        out.reply = Reply::Ticked(due.len());
        out
    }

    /// Sets or removes a limit. The tasks it held back go back to their lanes (the new limit
    /// holds them again if it must), and a new cap counts the leases it covers.
    ///
    /// # Errors
    /// [`EngineError::LimitNotFound`] when removing a limit that does not exist.
    pub(super) fn set_limit(
        &mut self,
        key: LimitKey,
        limit: Option<Limit>,
    ) -> Result<Outcome, EngineError> {
        let limit = limit.filter(|l| l.rate.is_some() || l.concurrency.is_some());
        if limit.is_none() && !self.limits.contains(&key) {
            return Err(EngineError::LimitNotFound {
                limit: key.to_string(),
            });
        }
        let mut out = Outcome::new(Reply::Ticked(0));
        let set = self.limits.set(key.clone(), limit);
        for park in set.parks {
            let keys = self.limits.unpark(park, usize::MAX);
            self.back_to_lanes(keys, &mut out);
        }
        if let Some(id) = set.id.filter(|_| set.count_leases) {
            self.count_leases(id);
        }
        out.writes.push(Write::PutLimit(key, set.id.and(limit)));
        self.wake_throttled(&mut out);
        out.reply = Reply::Limits(self.limits.all());
        Ok(out)
    }

    /// Counts every current lease that the cap of limit `id` covers.
    pub(super) fn count_leases(&mut self, id: u32) {
        let leased: Vec<u64> = self
            .timers
            .after(Timer::Lease, (0, 0))
            .map(|&(_, key)| key)
            .collect();
        for key in leased {
            if let Some(meta) = self
                .tasks
                .get(&key)
                .filter(|m| m.state == TaskState::Leased)
            {
                self.limits.count_lease(id, meta);
            }
        }
    }
}
