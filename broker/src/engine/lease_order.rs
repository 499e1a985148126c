//! The order READY tasks are leased in, shared by leasing and listing: [`lease_rank`] is the rule
//! a lease applies to the head of each priority lane, and [`ReadyWalk`] applies the same rule to
//! walk a queue from a [`ReadyCursor`], so a listing shows what successive leases hand out.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::queues::{Queue, PRIORITIES};
use super::task::{TaskMeta, TaskState};

/// Where a READY task at the head of its priority lane stands in the lease order at `now_ms`:
/// the greatest rank is leased first. The task counts one priority higher per `aging_ms` it has
/// waited since [`TaskMeta::ready_since_ms`] (never higher when `aging_ms` is 0); equal
/// effective priorities go in ready order.
pub(crate) fn lease_rank(meta: &TaskMeta, now_ms: u64, aging_ms: u64) -> (u64, Reverse<u64>) {
    let waited = now_ms.saturating_sub(meta.ready_since_ms());
    let aged = waited.checked_div(aging_ms).unwrap_or(0);
    let effective = u64::from(meta.priority.min(9)).saturating_add(aged);
    (effective, Reverse(meta.ready_seq))
}

/// Where a walk of a queue's READY tasks in lease order stands: the time the order is computed
/// at, and per priority lane the first ready position not walked past yet. Keeping the time
/// keeps every page of a listing in the order of its first page, however long the reader takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyCursor {
    /// Unix ms the priorities are aged to.
    pub(super) now_ms: u64,
    /// Per priority, the smallest `ready_seq` still to walk.
    pub(super) next_seq: [u64; PRIORITIES],
}

impl ReadyCursor {
    /// The start of a walk in the lease order at `now_ms`.
    pub(super) fn start(now_ms: u64) -> Self {
        Self {
            now_ms,
            next_seq: [0; PRIORITIES],
        }
    }
}

/// A lane head: its rank and task.
type Head<'a> = ((u64, Reverse<u64>), &'a TaskMeta);

/// A walk of one queue's READY tasks in the order successive leases at the cursor's time would
/// hand them out: a merge over the priority lanes that always takes the head of the greatest
/// [`lease_rank`], as a lease does. Tasks a limit parked walk at their places in their lanes (a
/// lease puts them back there once the limit has room); tasks whose expiry has passed are
/// skipped (a lease expires them instead).
pub(super) struct ReadyWalk<'a> {
    lanes: Vec<Box<dyn Iterator<Item = (u64, u64)> + 'a>>,
    heads: [Option<Head<'a>>; PRIORITIES],
    /// Lanes walked to their end.
    ended: [bool; PRIORITIES],
    tasks: &'a BTreeMap<u64, Box<TaskMeta>>,
    cursor: ReadyCursor,
    aging_ms: u64,
    /// Lane entries looked at so far, skipped ones included.
    scanned: usize,
    /// The walk stopped at its scan budget, not at the end.
    cut_short: bool,
}

impl<'a> ReadyWalk<'a> {
    /// A walk of `queue` from `cursor`.
    pub(super) fn new(
        queue: &'a Queue,
        tasks: &'a BTreeMap<u64, Box<TaskMeta>>,
        cursor: ReadyCursor,
        aging_ms: u64,
    ) -> Self {
        let lanes = (0..PRIORITIES)
            .map(|priority| lane_from(queue, priority, cursor.next_seq[priority]))
            .collect();
        Self {
            lanes,
            heads: [None; PRIORITIES],
            ended: [false; PRIORITIES],
            tasks,
            cursor,
            aging_ms,
            scanned: 0,
            cut_short: false,
        }
    }

    /// Where a walk continues from to yield what this one has not yielded yet.
    pub(super) fn cursor(&self) -> ReadyCursor {
        self.cursor
    }

    /// Whether the last [`Self::next_within`] stopped at its budget rather than at the end.
    pub(super) fn cut_short(&self) -> bool {
        self.cut_short
    }

    /// The next live entry of a lane as its head, skipping stale and expired ones; stops early
    /// once `budget` entries were scanned.
    fn load_head(&mut self, lane: usize, budget: usize) -> Option<Head<'a>> {
        let now_ms = self.cursor.now_ms;
        loop {
            if self.scanned >= budget {
                self.cut_short = true;
                return None;
            }
            let Some((seq, key)) = self.lanes[lane].next() else {
                self.ended[lane] = true;
                return None;
            };
            self.scanned += 1;
            let live = self.tasks.get(&key).filter(|m| {
                m.state == TaskState::Ready
                    && m.ready_seq == seq
                    && m.expires_at_ms().is_none_or(|at| at > now_ms)
            });
            if let Some(meta) = live {
                self.cursor.next_seq[lane] = seq;
                return Some((lease_rank(meta, now_ms, self.aging_ms), meta));
            }
            self.cursor.next_seq[lane] = seq.saturating_add(1);
        }
    }

    /// The next task in lease order, or `None` at the end or once `budget` entries were
    /// scanned (then [`Self::cursor`] continues the walk).
    pub(super) fn next_within(&mut self, budget: usize) -> Option<&'a TaskMeta> {
        for lane in 0..PRIORITIES {
            if self.heads[lane].is_none() && !self.ended[lane] {
                self.heads[lane] = self.load_head(lane, budget);
            }
        }
        // A lane not loaded may hold the best head: only a complete set of heads decides.
        if self.cut_short {
            return None;
        }
        let (lane, (_, meta)) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(lane, head)| head.map(|head| (lane, head)))
            .max_by_key(|&(_, (rank, _))| rank)?;
        self.heads[lane] = None;
        self.cursor.next_seq[lane] = meta.ready_seq.saturating_add(1);
        Some(meta)
    }
}

/// One priority lane from `start` on: its ready entries and its parked tasks, merged in ready
/// order, as `(ready_seq, key)`.
fn lane_from(
    queue: &Queue,
    priority: usize,
    start: u64,
) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
    let lane = &queue.ready[priority];
    let in_lane = lane
        .range(lane.partition_point(|&(seq, _)| seq < start)..)
        .copied();
    // Parked tasks are keyed highest priority first.
    let inverse = 9 - u8::try_from(priority).unwrap_or(9);
    let parked = queue
        .parked
        .range((inverse, start, 0)..=(inverse, u64::MAX, u64::MAX))
        .map(|&(_, seq, key)| (seq, key));
    Box::new(merged(in_lane, parked))
}

/// Two `(seq, key)` runs, each in order, as one in order.
fn merged(
    a: impl Iterator<Item = (u64, u64)>,
    b: impl Iterator<Item = (u64, u64)>,
) -> impl Iterator<Item = (u64, u64)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}
