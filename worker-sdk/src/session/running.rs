//! The attempts a worker runs, by lease; they outlive a broken connection.

use std::collections::HashMap;
use std::sync::Arc;

use stalk_proto::v1 as pb;
use tokio_util::sync::CancellationToken;

use crate::context::TaskMeta;

/// A task being run.
#[derive(Debug)]
struct Running {
    /// Its id and name (for what a stop reports), shared with the attempt.
    meta: Arc<TaskMeta>,
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

    /// Records a started attempt of the task `meta` describes; `stop` stops it.
    pub(crate) fn insert(&mut self, lease_id: u64, meta: Arc<TaskMeta>, stop: CancellationToken) {
        self.0.insert(lease_id, Running { meta, stop });
    }

    /// Forgets a finished attempt.
    pub(crate) fn remove(&mut self, lease_id: u64) {
        self.0.remove(&lease_id);
    }

    /// Stops and forgets the attempt of `task_id`; its task, if it was running.
    pub(crate) fn stop_task(&mut self, task_id: &str) -> Option<Arc<TaskMeta>> {
        let lease = self
            .0
            .iter()
            .find(|(_, task)| task.meta.id == task_id)
            .map(|(lease, _)| *lease);
        let task = lease.and_then(|lease| self.0.remove(&lease))?;
        task.stop.cancel();
        Some(task.meta)
    }

    /// Stops the attempt of this lease; its task, if it was running here.
    pub(crate) fn stop_lease(&mut self, lease_id: u64) -> Option<Arc<TaskMeta>> {
        let task = self.0.remove(&lease_id)?;
        task.stop.cancel();
        Some(task.meta)
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
                task_id: task.meta.id.clone(),
                lease_id: *lease_id,
            })
            .collect()
    }

    /// Lease id and task id of every running task.
    pub(crate) fn leases(&self) -> impl Iterator<Item = (u64, &str)> {
        self.0
            .iter()
            .map(|(lease_id, task)| (*lease_id, task.meta.id.as_str()))
    }
}
