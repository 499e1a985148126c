//! The event log: events recorded but not yet written (`pending`), and the index of those the
//! store holds. Commands record their events here under the engine lock; they are written to
//! the store many commands at a time, as one record, right before each group commit's flush
//! (and every [`DRAIN_EVERY`] for commands that wait for no flush), so a durable command's
//! events are durable with it, and events cost one store write per flush instead of one per
//! command.
//!
//! Readers see pending and stored events as one sequence: a snapshot taken under the log's
//! lock gives the stored end and a copy of what is pending, and pending events leave the list
//! only once they are stored.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::events::EventRetention;
use crate::engine::Event;
use crate::stats::BrokerStats;
use crate::store::{CommitHooks, EventBatch, Store, StoreError};

/// How often pending events are written when no flush does it.
pub(crate) const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// The events of one store: pending and stored.
#[derive(Debug, Default)]
pub(super) struct EventLog {
    state: Mutex<LogState>,
    /// One drain at a time, so records are written in order.
    drain: Mutex<()>,
}

#[derive(Debug, Default)]
struct LogState {
    /// Recorded, not yet in the store, in order.
    pending: Vec<Arc<[Event]>>,
    /// The store's records, oldest first.
    batches: VecDeque<EventBatch>,
    /// Events in `batches`.
    total: u64,
    /// Events numbered below this are gone.
    floor: u64,
    /// One past the last stored event's number (at least `floor`).
    stored_end: u64,
    /// One past the last recorded event's number (at least `stored_end`).
    end: u64,
}

/// What a reader sees at one moment: the stored events end at `stored_end`; `pending` follow.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) floor: u64,
    pub(super) oldest: u64,
    pub(super) stored_end: u64,
    pub(super) end: u64,
    pub(super) pending: Vec<Arc<[Event]>>,
}

impl EventLog {
    /// The log of what a store holds.
    pub(super) fn recovered(floor: u64, batches: Vec<EventBatch>) -> Self {
        let total = batches.iter().map(|b| u64::from(b.count)).sum();
        let end = batches.last().map_or(floor, EventBatch::end_seq).max(floor);
        Self {
            state: Mutex::new(LogState {
                pending: Vec::new(),
                batches: batches.into(),
                total,
                floor,
                stored_end: end,
                end,
            }),
            drain: Mutex::new(()),
        }
    }

    /// Adds a command's numbered events (called under the engine lock, in order).
    pub(super) fn record(&self, events: Arc<[Event]>) {
        let Some(last) = events.last() else {
            return;
        };
        let mut state = self.state.lock();
        state.end = last.seq + 1;
        state.pending.push(events);
    }

    /// What a reader sees now.
    pub(super) fn snapshot(&self) -> Snapshot {
        let state = self.state.lock();
        Snapshot {
            floor: state.floor,
            oldest: state.oldest(),
            stored_end: state.stored_end,
            end: state.end,
            pending: state.pending.clone(),
        }
    }

    /// Events numbered below this are gone.
    pub(super) fn floor(&self) -> u64 {
        self.state.lock().floor
    }

    /// Writes the pending events to `store` as one record.
    ///
    /// # Errors
    /// [`StoreError::Io`] when sled fails; the events stay pending.
    pub(super) fn drain(&self, store: &Store) -> Result<(), StoreError> {
        let _one = self.drain.lock();
        let pending = self.state.lock().pending.clone();
        if pending.is_empty() {
            return Ok(());
        }
        let events: Vec<&Event> = pending.iter().flat_map(|batch| batch.iter()).collect();
        store.append_events(&events)?;
        let Some(batch) = EventBatch::of(&events) else {
            return Ok(());
        };
        let mut state = self.state.lock();
        // Only this drain removes from `pending`, and records only append: what was copied is
        // still its front.
        state.pending.drain(..pending.len());
        state.total += u64::from(batch.count);
        state.stored_end = batch.end_seq();
        state.batches.push_back(batch);
        Ok(())
    }

    /// Takes the stored records retention removes, oldest first; returns their keys and the
    /// new floor. The floor moves first, so a reader never takes the removed ones for none.
    pub(super) fn trim(&self, retention: EventRetention, now_ms: u64) -> Option<(Vec<u64>, u64)> {
        self.state.lock().trim(retention, now_ms)
    }
}

impl LogState {
    /// The oldest event a reader can have: the first one kept, or the next one made.
    fn oldest(&self) -> u64 {
        self.batches.front().map_or_else(
            || {
                self.pending
                    .first()
                    .and_then(|b| b.first())
                    .map_or(self.end, |e| e.seq)
            },
            |b| b.first_seq,
        )
    }

    fn trim(&mut self, retention: EventRetention, now_ms: u64) -> Option<(Vec<u64>, u64)> {
        let cutoff = now_ms.saturating_sub(retention.max_age_ms);
        let mut removed = Vec::new();
        while let Some(first) = self.batches.front() {
            if self.total <= retention.max_count && first.last_at_ms >= cutoff {
                break;
            }
            self.total -= u64::from(first.count);
            self.floor = first.end_seq();
            removed.push(first.first_seq);
            self.batches.pop_front();
        }
        (!removed.is_empty()).then_some((removed, self.floor))
    }
}

/// What group commit calls around each flush: write the pending events first, and count the
/// flush for the metrics.
#[derive(Debug)]
pub(super) struct BrokerHooks {
    pub(super) events: Arc<EventLog>,
    /// Weak: a store being closed for a reopen must not be held open by its own flusher.
    pub(super) store: Weak<Store>,
    pub(super) stats: Option<Arc<BrokerStats>>,
}

impl CommitHooks for BrokerHooks {
    fn before_flush(&self) {
        let Some(store) = self.store.upgrade() else {
            return;
        };
        if let Err(err) = self.events.drain(&store) {
            // The flush that follows fails the same way and fails the broker; the events
            // stay pending.
            tracing::error!(cause = %err, "writing events failed");
        }
    }

    fn flushed(&self, commands: u64, took: Duration) {
        if let Some(stats) = &self.stats {
            stats.flushed(commands, took);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first_seq: u64, count: u32, last_at_ms: u64) -> EventBatch {
        EventBatch {
            first_seq,
            last_seq: first_seq + u64::from(count) - 1,
            count,
            last_at_ms,
        }
    }

    #[test]
    fn retention_trims_whole_records_by_count_and_by_age() {
        let log = EventLog::recovered(0, vec![batch(10, 3, 100), batch(20, 2, 200)]);
        let window = |log: &EventLog| {
            let s = log.snapshot();
            (s.oldest, s.floor, s.end)
        };
        assert_eq!(window(&log), (10, 0, 22));
        let by_count = EventRetention {
            max_count: 2,
            max_age_ms: u64::MAX,
        };
        assert_eq!(log.trim(by_count, 1_000), Some((vec![10], 13)));
        assert_eq!(log.trim(by_count, 1_000), None);
        let by_age = EventRetention {
            max_count: 100,
            max_age_ms: 500,
        };
        assert_eq!(log.trim(by_age, 600), None);
        assert_eq!(log.trim(by_age, 701), Some((vec![20], 22)));
        // Nothing kept: the oldest a reader can have is the next one made.
        assert_eq!(window(&log), (22, 22, 22));
    }
}
