//! What the engine knows of why a task is not running: its state, its due time, the limit that
//! held it back, a paused queue. `crate::explain` adds what the worker sessions know.

use std::sync::Arc;

use super::limits::{Held, LimitInfo, LimitScope};
use super::task::{TaskError, TaskState};
use super::Engine;

/// A task as `explain` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// The task's name.
    pub name: Arc<str>,
    /// Its queue.
    pub queue: Arc<str>,
    /// Its state.
    pub state: TaskState,
    /// LEASED and waiting in a worker's prefetch buffer (not started).
    pub prefetched: bool,
    /// The current lease, when LEASED.
    pub lease_id: Option<u64>,
    /// SCHEDULED and RETRYING: when it becomes ready, unix ms.
    pub due_ms: Option<u64>,
    /// A READY task a limit held back at its last lease attempt.
    pub held: Option<Held>,
    /// The limits that cover the task (its name's and its queue's), as listed.
    pub limits: Vec<LimitInfo>,
    /// Its queue is paused.
    pub paused: bool,
    /// The last failure (or why it was revoked).
    pub error: Option<TaskError>,
    /// When it expires if it has not started, unix ms.
    pub expires_at_ms: Option<u64>,
    /// A WAITING workflow step: its input slots, and the tasks whose outcome it still waits
    /// for (in canvas order).
    pub waits_for: Option<(usize, Vec<super::TaskId>)>,
}

impl Engine {
    /// The task with this id, as `explain` needs it.
    pub fn view(&self, id: &str) -> Option<TaskView> {
        let meta = self.get(id)?;
        let covers = |info: &LimitInfo| match &info.key.scope {
            LimitScope::Task(name) => *name == *meta.name,
            LimitScope::Queue(queue) => *queue == *meta.queue,
        };
        Some(TaskView {
            name: meta.name.clone(),
            queue: meta.queue.clone(),
            state: meta.state,
            prefetched: meta.cold().prefetched,
            lease_id: meta.lease().map(|l| l.id),
            due_ms: matches!(meta.state, TaskState::Scheduled | TaskState::Retrying)
                .then_some(meta.due_ms),
            held: (meta.state == TaskState::Ready)
                .then(|| self.held(meta.key).cloned())
                .flatten(),
            limits: self.limits().into_iter().filter(covers).collect(),
            paused: self.is_paused(&meta.queue),
            error: meta.cold().error.clone(),
            expires_at_ms: meta.expires_at_ms(),
            waits_for: (meta.state == TaskState::Waiting)
                .then(|| self.waits_for(meta.key))
                .flatten(),
        })
    }

    /// The input slots of the waiting step `key`, and the tasks of its workflow whose outcome
    /// it still waits for.
    fn waits_for(&self, key: u64) -> Option<(usize, Vec<super::TaskId>)> {
        let flow = self.tasks.get(&key)?.cold().flow.as_deref()?;
        let workflow = self.workflows.get(&flow.workflow)?;
        let parents = workflow
            .tasks
            .iter()
            .filter_map(|k| self.tasks.get(k))
            .filter(|m| {
                let feeds = m.cold().flow.as_ref().map(|f| f.feeds.as_slice());
                feeds
                    .unwrap_or_default()
                    .iter()
                    .any(|&(to, slot)| to == key && !flow.is_filled(slot))
            })
            .map(|m| m.id.clone())
            .collect();
        Some((flow.inputs(), parents))
    }
}
