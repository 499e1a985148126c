//! Time-driven transitions of tasks: a `Tick` of the `Due`, `Lease`, `Expiry` or `Purge` timer.
//! The `Schedule` and `Limit` timers tick in `schedules/firing.rs` and `limits/parks.rs`.

use std::sync::Arc;

use super::command::{Outcome, Reply, Timer};
use super::ctx::Ctx;
use super::task::{TaskError, TaskState};
use super::transitions::Change;
use super::Engine;

/// The note of the ready event of a task whose prefetch lease ran out before it started.
pub const PREFETCH_EXPIRED: &str = "the prefetch lease ran out before the task started";
/// The error kind of an attempt lost because its running lease ran out.
pub const LEASE_EXPIRED: &str = "LeaseExpired";

impl Engine {
    pub(super) fn tick(&mut self, timer: Timer, limit: usize, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Ticked(0));
        // Every tick can be derived again from the stored state after a crash, so none waits
        // for a flush.
        out.durable = false;
        let due = self.timers.due(timer, ctx.now_ms, limit);
        for (i, &(_, key)) in due.iter().enumerate() {
            match timer {
                Timer::Due => {
                    let change = Change {
                        ready_seq: Some(ctx.sub_id(i)),
                        derivable: true,
                        ..Change::default()
                    };
                    self.transition(key, TaskState::Ready, change, ctx, &mut out);
                }
                Timer::Lease if self.tasks.get(&key).is_some_and(|m| m.cold().prefetched) => {
                    if let Some(meta) = self.tasks.get_mut(&key) {
                        meta.attempts = meta.attempts.saturating_sub(1);
                    }
                    // The task keeps its place in the ready order.
                    self.transition(key, TaskState::Ready, Change::default(), ctx, &mut out);
                    if let Some(event) = out.events.last_mut() {
                        event.note = Some(Arc::from(PREFETCH_EXPIRED));
                    }
                }
                Timer::Lease => {
                    let cause = TaskError {
                        kind: LEASE_EXPIRED.into(),
                        message: "the lease ran out with no ack or extension: the worker died, \
                                  was cut off or stalled"
                            .into(),
                    };
                    self.lose_attempt(key, cause, ctx, &mut out);
                }
                Timer::Expiry => {
                    self.transition(key, TaskState::Expired, Change::default(), ctx, &mut out);
                }
                Timer::Purge => self.delete(key, ctx, &mut out),
                // Handled above: schedules and limit wake-ups are not tasks.
                Timer::Schedule | Timer::Limit => {}
            }
        }
        if timer == Timer::Expiry {
            let tasks = &self.tasks;
            for queue in self.queues.by_name.values_mut() {
                queue.compact_if_stale(|seq, key| {
                    tasks
                        .get(&key)
                        .is_some_and(|m| m.state == TaskState::Ready && m.ready_seq == seq)
                });
            }
        }
        out.reply = Reply::Ticked(due.len());
        out
    }
}
