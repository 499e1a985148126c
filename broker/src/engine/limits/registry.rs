//! The set of limits on the engine: setting and removing them at runtime (each change is a
//! write for the store), restoring the stored ones after a restart, and listing them.

use super::{Held, Limit, LimitInfo, LimitKey};
use crate::engine::command::{Outcome, Reply, Timer, Write};
use crate::engine::ctx::Ctx;
use crate::engine::events::{Event, EventKind};
use crate::engine::task::TaskState;
use crate::engine::{Engine, EngineError};

impl Engine {
    /// Sets or removes a limit. The tasks it held back go back to their lanes (the new limit
    /// holds them again if it must), and a new cap counts the leases it covers.
    ///
    /// # Errors
    /// [`EngineError::LimitNotFound`] when removing a limit that does not exist.
    pub(in crate::engine) fn set_limit(
        &mut self,
        key: LimitKey,
        limit: Option<Limit>,
        ctx: Ctx,
    ) -> Result<Outcome, EngineError> {
        let limit = limit.filter(|l| l.rate.is_some() || l.concurrency.is_some());
        if limit.is_none() && !self.limits.contains(&key) {
            return Err(EngineError::LimitNotFound {
                limit: key.to_string(),
            });
        }
        let mut out = Outcome::new(Reply::Ticked(0));
        let set = self.limits.set(key.clone(), limit);
        for park in set.parks {
            let keys = self.limits.unpark(park, usize::MAX);
            self.back_to_lanes(keys, &mut out);
        }
        if let Some(id) = set.id.filter(|_| set.count_leases) {
            self.count_leases(id);
        }
        let note = match (
            limit.and_then(|l| l.rate),
            limit.and_then(|l| l.concurrency),
        ) {
            (None, None) => format!("{key}: removed"),
            (Some(rate), None) => format!("{key}: rate {rate}"),
            (None, Some(cap)) => format!("{key}: concurrency {cap}"),
            (Some(rate), Some(cap)) => format!("{key}: rate {rate}, concurrency {cap}"),
        };
        out.events
            .push(Event::new(EventKind::LimitChanged, ctx.now_ms).with_note(note));
        out.writes.push(Write::PutLimit(key, set.id.and(limit)));
        self.wake_throttled(&mut out);
        out.reply = Reply::Limits(self.limits.all());
        Ok(out)
    }

    /// Counts every current lease that the cap of limit `id` covers.
    pub(super) fn count_leases(&mut self, id: u32) {
        let leased: Vec<u64> = self
            .timers
            .after(Timer::Lease, (0, 0))
            .map(|&(_, key)| key)
            .collect();
        for key in leased {
            if let Some(meta) = self
                .tasks
                .get(&key)
                .filter(|m| m.state == TaskState::Leased)
            {
                self.limits.count_lease(id, meta);
            }
        }
    }

    /// Puts back stored limits after a restart (rate buckets start full), counting the
    /// restored leases under their caps.
    pub fn restore_limits(&mut self, stored: impl IntoIterator<Item = (LimitKey, Limit)>) {
        for (key, limit) in stored {
            let set = self.limits.set(key, Some(limit));
            if let Some(id) = set.id.filter(|_| set.count_leases) {
                self.count_leases(id);
            }
        }
    }

    /// Why the READY task `key` was held back at its last lease attempt, if a limit did.
    pub fn held(&self, key: u64) -> Option<&Held> {
        self.limits.parked.get(&key).map(|(_, held)| held)
    }

    /// Every limit, by key.
    pub fn limits(&self) -> Vec<LimitInfo> {
        self.limits.all()
    }
}
