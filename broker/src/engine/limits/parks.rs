//! Parks: the tasks a limit holds back, per limit and key value, out of their queue's lanes.
//! They go back to their lanes, in their old places, when the limit has room: as many as its
//! bucket has tokens when a park's `Limit` timer fires, one when a lease under a cap ends, all
//! when the limit changes.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::state::{Limits, Park};
use super::{Held, LimitScope};
use crate::engine::command::{Outcome, Reply, Timer};
use crate::engine::ctx::Ctx;
use crate::engine::queues::Queues;
use crate::engine::task::{TaskMeta, TaskState};
use crate::engine::Engine;

/// The `Limit` timer key that wakes the leasers of throttled queues; parks use their own ids,
/// which start at 1.
pub(super) const WAKE_QUEUES: u64 = 0;

/// A task a limit held back: where it was parked, and when to look again.
#[derive(Debug)]
pub(crate) struct Parked {
    /// The park it joined.
    pub(crate) park: u64,
    /// A `Limit` timer to set for the park, if its rate decides when it has room.
    pub(crate) timer_at: Option<u64>,
}

/// Why a task was not admitted.
#[derive(Debug)]
pub(crate) struct Blocked {
    pub(super) limit: u32,
    pub(super) value: Arc<str>,
    pub(super) held: Held,
    pub(super) token_at: Option<u64>,
}

/// A lease that ended under a cap: the park whose task may go now.
#[derive(Debug)]
pub(crate) struct Freed {
    /// The park of the limit and key value that has room, if tasks wait there.
    pub(crate) park: Option<u64>,
    /// The limit covers a whole queue: its throttled leasers look again.
    pub(crate) whole_queue: bool,
}

impl Limits {
    /// A lease of task `key` ended: the caps that counted it have room for one more.
    pub(super) fn release(&mut self, key: u64) -> Vec<Freed> {
        let Some(charges) = self.charges.remove(&key) else {
            return Vec::new();
        };
        let mut freed = Vec::with_capacity(charges.len());
        for (id, value) in charges {
            // A limit removed or set again since keeps no count of this lease.
            let Some(state) = self.states.get_mut(&id) else {
                continue;
            };
            if let Some(running) = state.running.get_mut(&value) {
                *running = running.saturating_sub(1);
                if *running == 0 {
                    state.running.remove(&value);
                }
            }
            let whole_queue =
                state.key.per.is_none() && matches!(state.key.scope, LimitScope::Queue(_));
            let park = self.park_of.get(&(id, value)).copied();
            freed.push(Freed { park, whole_queue });
        }
        freed
    }

    /// Parks the READY task `meta` that `blocked` held back.
    pub(crate) fn park(&mut self, meta: &TaskMeta, blocked: Blocked) -> Parked {
        let Blocked {
            limit,
            value,
            held,
            token_at,
        } = blocked;
        let park_id = match self.park_of.get(&(limit, value.clone())) {
            Some(&id) => id,
            None => {
                self.next_park += 1;
                let id = self.next_park;
                self.park_of.insert((limit, value.clone()), id);
                self.parks.insert(
                    id,
                    Park {
                        limit,
                        value,
                        tasks: BTreeSet::new(),
                        timer_at: None,
                    },
                );
                id
            }
        };
        self.parked.insert(meta.key, (park_id, held));
        let mut timer_at = None;
        if let Some(park) = self.parks.get_mut(&park_id) {
            park.tasks.insert(parked_entry(meta));
            if let Some(at) = token_at.filter(|&at| park.timer_at.is_none_or(|t| at < t)) {
                park.timer_at = Some(at);
                timer_at = Some(at);
            }
        }
        Parked {
            park: park_id,
            timer_at,
        }
    }

    /// Task `meta` leaves its state (READY or LEASED) or is deleted: takes it out of its park
    /// and its queue's index of parked tasks, and ends the count of its lease. Returns the caps
    /// that have room now.
    pub(crate) fn leaving(&mut self, meta: &TaskMeta, queues: &mut Queues) -> Vec<Freed> {
        match meta.state {
            TaskState::Ready => {
                if let Some((park_id, _)) = self.parked.remove(&meta.key) {
                    let entry = parked_entry(meta);
                    if let Some(queue) = queues.get_mut(&meta.queue) {
                        queue.parked.remove(&entry);
                    }
                    if let Some(park) = self.parks.get_mut(&park_id) {
                        park.tasks.remove(&entry);
                        if park.tasks.is_empty() {
                            self.drop_park(park_id);
                        }
                    }
                }
                Vec::new()
            }
            TaskState::Leased => self.release(meta.key),
            _ => Vec::new(),
        }
    }

    /// Takes up to `n` tasks out of a park, first in lease order.
    pub(crate) fn unpark(&mut self, park_id: u64, n: usize) -> Vec<u64> {
        let Some(park) = self.parks.get_mut(&park_id) else {
            return Vec::new();
        };
        let mut keys = Vec::with_capacity(n.min(park.tasks.len()));
        while keys.len() < n {
            let Some((_, _, key)) = park.tasks.pop_first() else {
                break;
            };
            keys.push(key);
        }
        if park.tasks.is_empty() {
            self.drop_park(park_id);
        }
        for key in &keys {
            self.parked.remove(key);
        }
        keys
    }

    /// A park's `Limit` timer fired: takes out as many tasks as its bucket has tokens, and says
    /// when to look again if tasks stay.
    pub(crate) fn unpark_for_tokens(
        &mut self,
        park_id: u64,
        now_ms: u64,
    ) -> (Vec<u64>, Option<u64>) {
        let Some(park) = self.parks.get_mut(&park_id) else {
            return (Vec::new(), None);
        };
        park.timer_at = None;
        let (limit, value) = (park.limit, park.value.clone());
        let bucket = self
            .states
            .get_mut(&limit)
            .and_then(|state| state.buckets.get_mut(&value));
        let Some(bucket) = bucket else {
            // The limit or its bucket is gone: nothing holds these tasks back any more.
            return (self.unpark(park_id, usize::MAX), None);
        };
        let tokens = bucket.tokens(now_ms);
        let next = bucket.tokens_at_ms(tokens + 1);
        let keys = self.unpark(park_id, usize::try_from(tokens).unwrap_or(usize::MAX));
        let again = match self.parks.get_mut(&park_id) {
            Some(park) => {
                park.timer_at = Some(next);
                Some(next)
            }
            None => None,
        };
        (keys, again)
    }

    fn drop_park(&mut self, park_id: u64) {
        if let Some(park) = self.parks.remove(&park_id) {
            self.park_of.remove(&(park.limit, park.value));
        }
    }
}

/// A parked task's place in lease order: `(9 - priority, ready_seq, key)`.
pub(crate) fn parked_entry(meta: &TaskMeta) -> (u8, u64, u64) {
    (9 - meta.priority.min(9), meta.ready_seq, meta.key)
}

impl Engine {
    /// Caps that counted an ended lease have room: one task of each park goes back.
    pub(in crate::engine) fn freed(&mut self, freed: Vec<Freed>, out: &mut Outcome) {
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
    pub(super) fn back_to_lanes(&mut self, keys: Vec<u64>, out: &mut Outcome) {
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

    pub(super) fn wake_throttled(&mut self, out: &mut Outcome) {
        for queue in std::mem::take(&mut self.limits.throttled) {
            out.ready_in(&queue);
        }
    }

    /// `Limit` timers: parks whose next tokens came let that many tasks go; throttled queues
    /// look again.
    pub(in crate::engine) fn tick_limits(&mut self, limit: usize, ctx: Ctx) -> Outcome {
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
}
