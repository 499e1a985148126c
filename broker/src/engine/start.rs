//! Starting attempts: a worker reports that pushed tasks began running. Each prefetch lease
//! becomes a running lease, and the attempt's start time is recorded; a task whose expiry passed
//! while it waited in the worker's buffer is refused here and expires, so it never runs past its
//! expiry however long it was prefetched; one whose queue was paused meanwhile is refused and
//! waits again, READY, so a pause holds through the buffer.

use super::command::{Outcome, Reply};
use super::ctx::Ctx;
use super::events::Event;
use super::task::{Lease, TaskState};
use super::transitions::{index, unindex, Change};
use super::{Engine, EngineError};

impl Engine {
    /// Starts attempts: (task id, lease id, running lease length in ms). Per lease, the new
    /// deadline, or why the start was refused and the task's state now; a lease that already
    /// runs (reported again after a reconnect) is only extended.
    pub(super) fn start_many(&mut self, leases: Vec<(String, u64, u64)>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Started(Vec::new()));
        // Leases and expiries are derived again after a crash: nothing here waits for a flush.
        out.durable = false;
        let results = leases
            .into_iter()
            .map(|(id, lease_id, lease_ms)| {
                self.start(&id, lease_id, lease_ms, ctx, &mut out)
                    .map_err(|err| (err, self.get(&id).map(|m| m.state)))
            })
            .collect();
        out.reply = Reply::Started(results);
        out
    }

    fn start(
        &mut self,
        id: &str,
        lease_id: u64,
        lease_ms: u64,
        ctx: Ctx,
        out: &mut Outcome,
    ) -> Result<u64, EngineError> {
        let key = self.current(id, lease_id)?;
        let paused = self
            .tasks
            .get(&key)
            .is_some_and(|m| m.cold().prefetched && self.is_paused(&m.queue));
        let Some(meta) = self.tasks.get_mut(&key) else {
            return Err(EngineError::TaskNotFound { id: id.into() });
        };
        if paused {
            // Not an attempt: it goes back to wait in its place until the queue is resumed.
            meta.attempts = meta.attempts.saturating_sub(1);
            let why = format!("its queue {:?} is paused", &*meta.queue);
            self.transition(key, TaskState::Ready, Change::default(), ctx, out);
            return Err(EngineError::StaleLease {
                id: id.into(),
                lease_id,
                why,
            });
        }
        let prefetched = meta.cold().prefetched;
        if let Some(expired_at) = meta
            .expires_at_ms()
            .filter(|at| prefetched && *at <= ctx.now_ms)
        {
            // Not an attempt: it never ran.
            meta.attempts = meta.attempts.saturating_sub(1);
            self.transition(key, TaskState::Expired, Change::default(), ctx, out);
            return Err(EngineError::StaleLease {
                id: id.into(),
                lease_id,
                why: format!(
                    "the task expired {} ms before it started",
                    ctx.now_ms.saturating_sub(expired_at)
                ),
            });
        }
        let deadline_ms = ctx.now_ms.saturating_add(lease_ms);
        unindex(&mut self.queues, &mut self.timers, meta);
        meta.set_lease(Lease {
            id: lease_id,
            deadline_ms,
        });
        if prefetched {
            let cold = meta.cold_mut();
            cold.prefetched = false;
            cold.started_ms = ctx.now_ms;
            out.events.push(Event::started(meta, None, ctx.now_ms));
        }
        index(
            &mut self.queues,
            &mut self.timers,
            meta,
            &mut out.timers_moved,
        );
        Ok(deadline_ms)
    }
}
