//! Pushed tasks waiting in the worker for a free slot, under their prefetch leases.

use std::collections::VecDeque;

use stalk_proto::v1 as pb;

/// The tasks the broker pushed that have not started. They start in the broker's order, not in
/// the order they arrived: a priority-9 task pushed after three priority-0 ones goes first.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// In arrival order; the buffer holds at most the worker's prefetch, so a scan is cheap.
    tasks: VecDeque<pb::LeasedTask>,
    /// Dropped since [`Buffer::take_expired`] last asked.
    expired: u32,
}

impl Buffer {
    /// Keeps a pushed task until a slot frees.
    pub(crate) fn push(&mut self, task: pb::LeasedTask) {
        self.tasks.push_back(task);
    }

    /// The next task to start, as the broker would lease it at `now_ms`: the highest priority,
    /// counting one more per `aging_ms` waited since it became ready (none when `aging_ms` is
    /// 0), then the longest ready, then the first pushed. Tasks whose prefetch lease ended by
    /// `now_ms` are dropped: the broker has taken them back, and their credits are due again
    /// (see [`Buffer::take_expired`]).
    pub(crate) fn pop_ready(&mut self, now_ms: i64, aging_ms: u64) -> Option<pb::LeasedTask> {
        let before = self.tasks.len();
        self.tasks.retain(|task| {
            task.lease_deadline_unix_ms <= 0 || task.lease_deadline_unix_ms > now_ms
        });
        let dropped = before - self.tasks.len();
        self.expired = self
            .expired
            .saturating_add(u32::try_from(dropped).unwrap_or(u32::MAX));
        let rank = |task: &pb::LeasedTask| {
            let waited =
                u64::try_from(now_ms.saturating_sub(task.ready_since_unix_ms)).unwrap_or(0);
            let aged = waited.checked_div(aging_ms).unwrap_or(0);
            (
                u64::from(task.priority).saturating_add(aged),
                std::cmp::Reverse(task.ready_since_unix_ms),
            )
        };
        // The first of equals wins: `max_by_key` keeps the last, so compare the reversed index.
        let best = self
            .tasks
            .iter()
            .enumerate()
            .max_by_key(|(i, task)| (rank(task), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)?;
        self.tasks.remove(best)
    }

    /// How many tasks wait.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Drops the task of this lease, if it waits here; its name.
    pub(crate) fn remove(&mut self, lease_id: u64) -> Option<String> {
        let i = self
            .tasks
            .iter()
            .position(|task| task.lease_id == lease_id)?;
        self.tasks.remove(i).map(|task| task.name)
    }

    /// How many tasks were dropped as expired since the last call.
    pub(crate) fn take_expired(&mut self) -> u32 {
        std::mem::take(&mut self.expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, priority: u32, ready_since: i64, deadline_ms: i64) -> pb::LeasedTask {
        pb::LeasedTask {
            task_id: id.into(),
            priority,
            ready_since_unix_ms: ready_since,
            lease_deadline_unix_ms: deadline_ms,
            ..pb::LeasedTask::default()
        }
    }

    fn order(buffer: &mut Buffer, now_ms: i64, aging_ms: u64) -> Vec<String> {
        std::iter::from_fn(|| buffer.pop_ready(now_ms, aging_ms))
            .map(|t| t.task_id)
            .collect()
    }

    #[test]
    fn expired_tasks_are_dropped_and_counted_once() {
        let mut buffer = Buffer::default();
        buffer.push(task("late", 0, 0, 100));
        buffer.push(task("a", 0, 0, 0));
        buffer.push(task("b", 0, 0, 300));
        assert_eq!(order(&mut buffer, 200, 0), ["a", "b"]);
        assert_eq!(buffer.take_expired(), 1);
        assert_eq!(buffer.take_expired(), 0);
    }

    #[test]
    fn higher_priority_goes_first_then_the_longest_ready_then_arrival() {
        let mut buffer = Buffer::default();
        buffer.push(task("p0-old", 0, 10, 0));
        buffer.push(task("p0-new", 0, 20, 0));
        buffer.push(task("p9", 9, 30, 0));
        buffer.push(task("p0-oldest", 0, 5, 0));
        buffer.push(task("p0-oldest-twin", 0, 5, 0));
        assert_eq!(
            order(&mut buffer, 1_000, 0),
            ["p9", "p0-oldest", "p0-oldest-twin", "p0-old", "p0-new"]
        );
    }

    #[test]
    fn a_task_that_waited_long_enough_ages_past_a_newer_higher_one() {
        let mut buffer = Buffer::default();
        buffer.push(task("p5-new", 5, 59_000, 0));
        // Ready for 60 s at one priority step per 10 s: counts as 6.
        buffer.push(task("p0-old", 0, 0, 0));
        assert_eq!(order(&mut buffer, 60_000, 10_000), ["p0-old", "p5-new"]);
    }
}
