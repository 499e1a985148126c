//! What a handler may know about the attempt it runs.

use std::sync::Arc;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::resources::Resources;

/// The attempt a handler runs: its task, its number, and its soft time limit.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub(crate) task_id: String,
    pub(crate) attempt: u32,
    pub(crate) soft_limit: CancellationToken,
    pub(crate) resources: Resources,
}

impl TaskContext {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// 1 for the first delivery, +1 for every redelivery.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Resolves when the attempt passes its soft time limit (never, without one): select on it
    /// to clean up and return before the hard limit stops the attempt.
    pub fn soft_limit_reached(&self) -> WaitForCancellationFuture<'_> {
        self.soft_limit.cancelled()
    }

    /// A value a worker step provided (see [`crate::StepContext::provide`]), such as a database
    /// pool; in a prefork child, one its own steps provided.
    pub fn resource<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.resources.get::<T>()
    }

    /// Whether the attempt has passed its soft time limit.
    pub fn is_past_soft_limit(&self) -> bool {
        self.soft_limit.is_cancelled()
    }
}
