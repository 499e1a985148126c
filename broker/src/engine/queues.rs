//! Per-queue indexes: the ready order, the dead-letter set and the counts per state.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::task::TaskState;

/// Number of priority levels (0..=9).
pub(crate) const PRIORITIES: usize = 10;

/// Tasks per state in one queue; kept exact by `Engine::set_state`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// READY tasks.
    pub ready: u64,
    /// SCHEDULED tasks.
    pub scheduled: u64,
    /// LEASED tasks.
    pub leased: u64,
    /// RETRYING tasks.
    pub retrying: u64,
    /// FAILED tasks (the dead-letter set).
    pub dead: u64,
    /// WAITING workflow steps (for the steps before them).
    pub waiting: u64,
}

impl Counts {
    fn slot(&mut self, state: TaskState) -> Option<&mut u64> {
        match state {
            TaskState::Ready => Some(&mut self.ready),
            TaskState::Scheduled => Some(&mut self.scheduled),
            TaskState::Leased => Some(&mut self.leased),
            TaskState::Retrying => Some(&mut self.retrying),
            TaskState::Failed => Some(&mut self.dead),
            TaskState::Waiting => Some(&mut self.waiting),
            _ => None,
        }
    }

    pub(crate) fn moved(&mut self, from: Option<TaskState>, to: Option<TaskState>) {
        if let Some(slot) = from.and_then(|s| self.slot(s)) {
            *slot = slot.saturating_sub(1);
        }
        if let Some(slot) = to.and_then(|s| self.slot(s)) {
            *slot += 1;
        }
    }

    /// Whether every count is zero.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One queue's indexes.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Per priority, `(ready_seq, key)` in ready order. Entries go stale when a task leaves
    /// READY other than by being popped (revoke, expiry, purge); readers skip those, which keeps
    /// every push and pop O(1).
    pub(crate) ready: [VecDeque<(u64, u64)>; PRIORITIES],
    /// READY tasks a limit holds back, out of the lanes, by `(9 - priority, ready_seq, key)`:
    /// listings and purges find them here.
    pub(crate) parked: BTreeSet<(u8, u64, u64)>,
    /// Keys of FAILED tasks, in enqueue order.
    pub(crate) dead: BTreeSet<u64>,
    pub(crate) counts: Counts,
}

impl Queue {
    pub(crate) fn push_ready(&mut self, priority: u8, ready_seq: u64, key: u64) {
        let lane = &mut self.ready[usize::from(priority.min(9))];
        // Recovery pushes in sorted order and live pushes carry fresh sequence numbers, so
        // each lane stays sorted; a stray older entry is inserted in place.
        match lane.back() {
            Some(&(last, _)) if last > ready_seq => {
                let at = lane.partition_point(|&(seq, _)| seq < ready_seq);
                lane.insert(at, (ready_seq, key));
            }
            _ => lane.push_back((ready_seq, key)),
        }
    }

    /// Drops stale entries once they outnumber live ones, so revoked or expired ready tasks do
    /// not pile up in memory.
    pub(crate) fn compact_if_stale(&mut self, is_live: impl Fn(u64, u64) -> bool) {
        let entries: usize = self.ready.iter().map(VecDeque::len).sum();
        let live = usize::try_from(self.counts.ready).unwrap_or(usize::MAX);
        if entries > 1024 && entries > live.saturating_mul(2) {
            for lane in &mut self.ready {
                lane.retain(|&(seq, key)| is_live(seq, key));
            }
        }
    }
}

/// All queues by name.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    pub(crate) by_name: HashMap<Arc<str>, Queue>,
}

impl Queues {
    /// The queue's shared name and indexes, created on first use.
    pub(crate) fn entry(&mut self, name: &str) -> (Arc<str>, &mut Queue) {
        let shared = match self.by_name.get_key_value(name) {
            Some((shared, _)) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(name);
                self.by_name.insert(shared.clone(), Queue::default());
                shared
            }
        };
        let queue = self
            .by_name
            .get_mut(name)
            .expect("invariant: inserted above");
        (shared, queue)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Queue> {
        self.by_name.get_mut(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Queue> {
        self.by_name.get(name)
    }
}
