//! The attempts a worker runs, by lease; they outlive a broken connection.

use std::collections::HashMap;

use stalk_proto::v1 as pb;
use tokio_util::sync::CancellationToken;

/// A task being run.
#[derive(Debug)]
struct Running {
    task_id: String,
    /// Stops the attempt in its pool.
    stop: CancellationToken,
}

/// Running tasks by lease id.
#[derive(Debug, Default)]
pub(crate) struct RunningTasks(HashMap<u64, Running>);

impl RunningTasks {
    /// How many tasks run.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing runs.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records a started attempt; `stop` stops it.
    pub(crate) fn insert(&mut self, lease_id: u64, task_id: String, stop: CancellationToken) {
        self.0.insert(lease_id, Running { task_id, stop });
    }

    /// Forgets a finished attempt.
    pub(crate) fn remove(&mut self, lease_id: u64) {
        self.0.remove(&lease_id);
    }

    /// Stops and forgets the attempt of `task_id`; `false` if it was not running.
    pub(crate) fn stop_task(&mut self, task_id: &str) -> bool {
        let lease = self
            .0
            .iter()
            .find(|(_, task)| task.task_id == task_id)
            .map(|(lease, _)| *lease);
        let Some(task) = lease.and_then(|lease| self.0.remove(&lease)) else {
            return false;
        };
        task.stop.cancel();
        true
    }

    /// Stops the attempt of this lease, if it runs here.
    pub(crate) fn stop_lease(&mut self, lease_id: u64) -> bool {
        let Some(task) = self.0.remove(&lease_id) else {
            return false;
        };
        task.stop.cancel();
        true
    }

    /// Stops and forgets every attempt (they are then never acked).
    pub(crate) fn stop_all(&mut self) {
        for (_, task) in self.0.drain() {
            task.stop.cancel();
        }
    }

    /// Every running task, as a new connection reports them so the broker hands their leases
    /// back.
    pub(crate) fn started(&self) -> Vec<pb::StartedTask> {
        self.0
            .iter()
            .map(|(lease_id, task)| pb::StartedTask {
                task_id: task.task_id.clone(),
                lease_id: *lease_id,
            })
            .collect()
    }

    /// Lease id and task id of every running task.
    pub(crate) fn leases(&self) -> impl Iterator<Item = (u64, &str)> {
        self.0
            .iter()
            .map(|(lease_id, task)| (*lease_id, task.task_id.as_str()))
    }
}
