//! Deadline indexes, one per [`Timer`]: ordered by time so the next deadline and everything due
//! are found without scanning, and a million scheduled tasks cost no per-task timer.

use std::collections::BTreeSet;

use super::command::Timer;

/// `(deadline_ms, task key)` sets, one per timer.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    due: BTreeSet<(u64, u64)>,
    lease: BTreeSet<(u64, u64)>,
    expiry: BTreeSet<(u64, u64)>,
    purge: BTreeSet<(u64, u64)>,
    /// `(next_fire_ms, schedule key)`.
    schedule: BTreeSet<(u64, u64)>,
    /// `(next token ms, 0)`: when throttled queues look again.
    limit: BTreeSet<(u64, u64)>,
}

impl Timers {
    fn set(&self, timer: Timer) -> &BTreeSet<(u64, u64)> {
        match timer {
            Timer::Due => &self.due,
            Timer::Lease => &self.lease,
            Timer::Expiry => &self.expiry,
            Timer::Purge => &self.purge,
            Timer::Schedule => &self.schedule,
            Timer::Limit => &self.limit,
        }
    }

    fn set_mut(&mut self, timer: Timer) -> &mut BTreeSet<(u64, u64)> {
        match timer {
            Timer::Due => &mut self.due,
            Timer::Lease => &mut self.lease,
            Timer::Expiry => &mut self.expiry,
            Timer::Purge => &mut self.purge,
            Timer::Schedule => &mut self.schedule,
            Timer::Limit => &mut self.limit,
        }
    }

    /// Adds a deadline; returns the timer's bit if it is now the earliest, so the driver that
    /// sleeps on this timer knows to wake sooner.
    pub(crate) fn insert(&mut self, timer: Timer, at_ms: u64, key: u64) -> u8 {
        let set = self.set_mut(timer);
        let earliest = set.first().is_none_or(|&(first, _)| at_ms < first);
        set.insert((at_ms, key));
        if earliest {
            timer.bit()
        } else {
            0
        }
    }

    pub(crate) fn remove(&mut self, timer: Timer, at_ms: u64, key: u64) {
        self.set_mut(timer).remove(&(at_ms, key));
    }

    /// The earliest deadline of a timer.
    pub(crate) fn next(&self, timer: Timer) -> Option<u64> {
        self.set(timer).first().map(|&(at, _)| at)
    }

    /// Up to `limit` entries due at `now_ms`, earliest first.
    pub(crate) fn due(&self, timer: Timer, now_ms: u64, limit: usize) -> Vec<(u64, u64)> {
        self.set(timer)
            .iter()
            .take_while(|&&(at, _)| at <= now_ms)
            .take(limit)
            .copied()
            .collect()
    }

    /// Entries of a timer strictly after `after`, in order.
    pub(crate) fn after(
        &self,
        timer: Timer,
        after: (u64, u64),
    ) -> impl Iterator<Item = &(u64, u64)> + '_ {
        use std::ops::Bound::{Excluded, Unbounded};
        self.set(timer).range((Excluded(after), Unbounded))
    }
}
