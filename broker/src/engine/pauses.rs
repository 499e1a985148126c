//! Paused queues: a paused queue leases nothing. Its tasks that wait in workers' prefetch
//! buffers are taken back when it is paused (READY again, in their place, no attempt counted;
//! their workers drop them), and one whose start races the pause is refused, so a pause holds
//! through prefetch. Running attempts finish. Pauses are
//! stored, so they hold across restarts.

use std::sync::Arc;

use super::command::{Outcome, Reply, StoppedLease, Timer, Write};
use super::ctx::Ctx;
use super::events::{Event, EventKind};
use super::task::TaskState;
use super::transitions::Change;
use super::Engine;

impl Engine {
    /// Pauses or resumes a queue; answers whether anything changed.
    pub(super) fn pause_queue(&mut self, queue: &str, paused: bool, ctx: Ctx) -> Outcome {
        let changed = if paused {
            self.paused.insert(Arc::from(queue))
        } else {
            self.paused.remove(queue)
        };
        let mut out = Outcome::new(Reply::Paused(changed));
        if !changed {
            return out;
        }
        let shared: Arc<str> = Arc::from(queue);
        out.writes.push(Write::PauseQueue(shared.clone(), paused));
        if paused {
            self.recall_prefetched(queue, ctx, &mut out);
        }
        let kind = if paused {
            EventKind::QueuePaused
        } else {
            EventKind::QueueResumed
        };
        out.events.push(Event {
            queue: Some(shared.clone()),
            ..Event::new(kind, ctx.now_ms)
        });
        if !paused {
            // Its leasers look again.
            out.ready_in(&shared);
        }
        out
    }

    /// Takes back the tasks of `queue` that wait in workers' prefetch buffers: READY again in
    /// their place, no attempt counted, and their workers told to drop them.
    fn recall_prefetched(&mut self, queue: &str, ctx: Ctx, out: &mut Outcome) {
        let prefetched: Vec<u64> = self
            .timers
            .after(Timer::Lease, (0, 0))
            .map(|&(_, key)| key)
            .filter(|key| {
                self.tasks
                    .get(key)
                    .is_some_and(|m| m.cold().prefetched && &*m.queue == queue)
            })
            .collect();
        for key in prefetched {
            let Some(meta) = self.tasks.get_mut(&key) else {
                continue;
            };
            if let Some(lease) = meta.lease() {
                out.stopped.push(StoppedLease {
                    task_id: meta.id.clone(),
                    lease_id: lease.id,
                    state: TaskState::Ready,
                });
            }
            meta.attempts = meta.attempts.saturating_sub(1);
            self.transition(key, TaskState::Ready, Change::default(), ctx, out);
        }
    }

    /// Whether `queue` is paused.
    pub fn is_paused(&self, queue: &str) -> bool {
        !self.paused.is_empty() && self.paused.contains(queue)
    }

    /// The paused queues, sorted.
    pub fn paused_queues(&self) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = self.paused.iter().cloned().collect();
        out.sort();
        out
    }

    /// Puts back the paused queues read from the store.
    pub fn restore_pauses(&mut self, queues: Vec<String>) {
        self.paused = queues.into_iter().map(Arc::from).collect();
    }
}
