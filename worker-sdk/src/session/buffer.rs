//! Pushed tasks waiting in the worker for a free slot, under their prefetch leases.

use std::collections::VecDeque;

use stalk_proto::v1 as pb;

/// The tasks the broker pushed that have not started, first come first served.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    tasks: VecDeque<pb::LeasedTask>,
    /// Dropped since [`Buffer::take_expired`] last asked.
    expired: u32,
}

impl Buffer {
    /// Keeps a pushed task until a slot frees.
    pub(crate) fn push(&mut self, task: pb::LeasedTask) {
        self.tasks.push_back(task);
    }

    /// The next task to start. Tasks before it whose prefetch lease ended by `now_ms` are
    /// dropped: the broker has taken them back, and their credits are due again (see
    /// [`Buffer::take_expired`]).
    pub(crate) fn pop_ready(&mut self, now_ms: i64) -> Option<pb::LeasedTask> {
        while let Some(task) = self.tasks.pop_front() {
            if task.lease_deadline_unix_ms > 0 && task.lease_deadline_unix_ms <= now_ms {
                self.expired += 1;
                continue;
            }
            return Some(task);
        }
        None
    }

    /// How many tasks were dropped as expired since the last call.
    pub(crate) fn take_expired(&mut self) -> u32 {
        std::mem::take(&mut self.expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, deadline_ms: i64) -> pb::LeasedTask {
        pb::LeasedTask {
            task_id: id.into(),
            lease_deadline_unix_ms: deadline_ms,
            ..pb::LeasedTask::default()
        }
    }

    #[test]
    fn tasks_come_out_in_order_and_expired_ones_are_counted_once() {
        let mut buffer = Buffer::default();
        buffer.push(task("late", 100));
        buffer.push(task("a", 0));
        buffer.push(task("b", 300));
        let id = |t: Option<pb::LeasedTask>| t.map(|t| t.task_id);
        assert_eq!(id(buffer.pop_ready(200)), Some("a".into()));
        assert_eq!(buffer.take_expired(), 1);
        assert_eq!(buffer.take_expired(), 0);
        assert_eq!(id(buffer.pop_ready(200)), Some("b".into()));
        assert_eq!(id(buffer.pop_ready(200)), None);
    }
}
