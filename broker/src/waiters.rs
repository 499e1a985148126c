//! Long-poll wake-ups: leasers waiting for ready tasks, and result readers waiting for a task to
//! finish. Soft state beside the engine; nothing here is durable.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

/// Bumped whenever any task becomes READY; long-polling leasers look again when it changes.
#[derive(Debug)]
pub(crate) struct ReadySignal(watch::Sender<u64>);

impl ReadySignal {
    pub(crate) fn new() -> Self {
        Self(watch::channel(0).0)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }

    pub(crate) fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Per-task wake-ups for `GetResult` long polls.
#[derive(Debug, Default)]
pub(crate) struct ResultWaiters {
    // A parking_lot mutex: held for a map operation only, never across an await.
    by_id: Mutex<HashMap<Arc<str>, watch::Sender<()>>>,
}

impl ResultWaiters {
    /// Registers interest in `id`; subscribe *before* reading the task's state so a finish in
    /// between is not missed.
    pub(crate) fn subscribe(&self, id: &str) -> watch::Receiver<()> {
        let mut by_id = self.by_id.lock();
        if let Some(sender) = by_id.get(id) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(());
        by_id.insert(Arc::from(id), sender);
        receiver
    }

    /// Wakes everyone waiting on `id`.
    pub(crate) fn finished(&self, id: &str) {
        if let Some(sender) = self.by_id.lock().remove(id) {
            sender.send_replace(());
        }
    }

    /// Forgets `id` if nobody waits on it any more (after a waiter gave up).
    pub(crate) fn release(&self, id: &str) {
        let mut by_id = self.by_id.lock();
        if by_id.get(id).is_some_and(|s| s.receiver_count() == 0) {
            by_id.remove(id);
        }
    }
}
