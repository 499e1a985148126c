//! Long-poll wake-ups: leasers waiting for ready tasks, and result readers waiting for a task to
//! finish. Soft state beside the engine; nothing here is durable.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::engine::TaskId;

/// Wake-ups for long-polling leasers, per queue: a task becoming READY in one queue wakes only
/// the leasers waiting on that queue, not every idle worker of the broker.
#[derive(Debug, Default)]
pub(crate) struct ReadySignals {
    // A parking_lot mutex: held for a map operation only, never across an await.
    by_queue: Mutex<HashMap<Arc<str>, Vec<Weak<Notify>>>>,
}

impl ReadySignals {
    /// Registers a waiter on `queues`; it is woken (a permit is stored if it is not waiting
    /// yet, so a wake-up between registering and waiting is not lost) when one gets a READY task.
    /// Dropping the returned handle unregisters it.
    pub(crate) fn register(&self, queues: &[String]) -> Arc<Notify> {
        let waiter = Arc::new(Notify::new());
        let mut by_queue = self.by_queue.lock();
        for queue in queues {
            let waiters = by_queue.entry(Arc::from(queue.as_str())).or_default();
            waiters.retain(|w| w.strong_count() > 0);
            waiters.push(Arc::downgrade(&waiter));
        }
        waiter
    }

    /// Wakes the waiters of `queue`.
    pub(crate) fn ready(&self, queue: &str) {
        let mut by_queue = self.by_queue.lock();
        let Some(waiters) = by_queue.get_mut(queue) else {
            return;
        };
        waiters.retain(|w| match w.upgrade() {
            Some(waiter) => {
                waiter.notify_one();
                true
            }
            None => false,
        });
        if waiters.is_empty() {
            by_queue.remove(queue);
        }
    }

    /// Wakes every waiter, of every queue (the engine was rebuilt: any queue may have READY
    /// tasks).
    pub(crate) fn wake_all(&self) {
        let by_queue = self.by_queue.lock();
        for waiter in by_queue.values().flatten().filter_map(Weak::upgrade) {
            waiter.notify_one();
        }
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
    pub(crate) fn finished(&self, id: &TaskId) {
        let mut by_id = self.by_id.lock();
        // Most finishes have no waiter; skip formatting the id then.
        if by_id.is_empty() {
            return;
        }
        if let Some(sender) = id.with_str(|id| by_id.remove(id)) {
            sender.send_replace(());
        }
    }

    /// Wakes everyone waiting on any task (the engine was rebuilt: they look again).
    pub(crate) fn wake_all(&self) {
        for (_, sender) in self.by_id.lock().drain() {
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
