//! What a handler may know about the attempt it runs.

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The attempt a handler runs: its task, its number, and its soft time limit.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub(crate) task_id: String,
    pub(crate) attempt: u32,
    pub(crate) soft_limit: CancellationToken,
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

    /// Whether the attempt has passed its soft time limit.
    pub fn is_past_soft_limit(&self) -> bool {
        self.soft_limit.is_cancelled()
    }
}
