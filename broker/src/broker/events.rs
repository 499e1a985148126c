//! The event stream: numbering a command's events, storing them with its writes, sending them
//! live, trimming them under retention, and serving watchers ([`Broker::watch_events`]).
//!
//! An event's sequence number is derived from its command's (`seq << SUB_BITS | index`), so
//! it only grows, across restarts too, with no counter of its own. Events are stored in the
//! same store, under the same engine lock, as the writes of the command that made them, and
//! sent live from there, in order.
//!
//! A watcher first reads what it asked for from the store, then follows the live sends. One
//! that falls behind the live sends (a slow reader) is told so and reads from the store again
//! from where it was: it misses nothing while its events are retained, and it never slows the
//! broker or another watcher. One that asks for events retention already removed is told the
//! oldest it can have.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use super::state::Storage;
use super::{Broker, BrokerError};
use crate::engine::{Command, Event, EventFilter, SUB_BITS};
use crate::store::{EventBatch, Store, StoreError};

/// Batches of live events a watcher may fall behind by before it reads from the store again.
pub(super) const LIVE_BACKLOG: usize = 1024;
/// Store records a watcher reads at a time while it catches up.
const READ_BATCHES: usize = 64;
/// Items queued for one watcher's stream before its reader waits.
const WATCH_QUEUE: usize = 256;

/// How many events are kept, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRetention {
    /// Most events kept (whole commands' batches are trimmed, oldest first).
    pub max_count: u64,
    /// Events older than this many ms are trimmed.
    pub max_age_ms: u64,
}

/// What the engine lock keeps of the stored events: a small index of their batches.
#[derive(Debug, Default)]
pub(super) struct EventIndex {
    batches: VecDeque<EventBatch>,
    /// Events in `batches`.
    total: u64,
    /// Events numbered below this are gone.
    floor: u64,
    /// One past the last stored event's number (at least `floor`).
    end: u64,
}

impl EventIndex {
    /// The index of what a store holds.
    pub(super) fn recovered(floor: u64, batches: Vec<EventBatch>) -> Self {
        let total = batches.iter().map(|b| u64::from(b.count)).sum();
        let end = batches.last().map_or(floor, EventBatch::end).max(floor);
        Self {
            batches: batches.into(),
            total,
            floor,
            end,
        }
    }

    fn push(&mut self, batch: EventBatch) {
        self.total += u64::from(batch.count);
        self.end = batch.end();
        self.batches.push_back(batch);
    }

    /// The oldest event a watcher can have: the first one kept, or the next one made.
    fn oldest(&self) -> u64 {
        self.batches.front().map_or(self.end, |b| b.first_seq)
    }

    /// Takes the batches retention removes from the front; returns their first numbers and
    /// the new floor.
    fn trim(&mut self, retention: EventRetention, now_ms: u64) -> Option<(Vec<u64>, u64)> {
        let cutoff = now_ms.saturating_sub(retention.max_age_ms);
        let mut removed = Vec::new();
        while let Some(first) = self.batches.front() {
            if self.total <= retention.max_count && first.last_at_ms >= cutoff {
                break;
            }
            self.total -= u64::from(first.count);
            self.floor = first.end();
            removed.push(first.first_seq);
            self.batches.pop_front();
        }
        (!removed.is_empty()).then_some((removed, self.floor))
    }
}

/// What a watcher receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// An event that matched the filter.
    Event(Event),
    /// Everything asked for from the past was sent; live events follow. `next_seq` is the
    /// number the next event will have at least.
    Live {
        /// The next event's number, at least.
        next_seq: u64,
    },
    /// The watcher fell behind the live events; it goes on from the store at `resume_from`
    /// (nothing is skipped).
    Lagged {
        /// The number it goes on from.
        resume_from: u64,
    },
    /// The events asked for were trimmed by retention; `oldest_seq` is the oldest kept. The
    /// stream ends after this.
    TooOld {
        /// The number asked for (or reached).
        asked: u64,
        /// The oldest event kept.
        oldest_seq: u64,
    },
    /// Reading the store failed; the stream ends after this.
    Failed(String),
}

/// Counts a watcher while it runs.
struct Watching(Arc<Broker>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Broker {
    /// Numbers a command's events, stores them and sends them live. Called under the engine
    /// lock, right after the command's writes, so events leave in order.
    pub(super) fn record_events(
        &self,
        index: &mut EventIndex,
        store: &Store,
        seq: u64,
        mut events: Vec<Event>,
    ) -> Result<(), StoreError> {
        // A command's width bounds its events far below 2^SUB_BITS (a few per task).
        events.truncate(1 << SUB_BITS);
        for (i, event) in events.iter_mut().enumerate() {
            event.seq = (seq << SUB_BITS) | i as u64;
        }
        store.append_events(&events)?;
        if let Some(batch) = EventBatch::of(&events) {
            index.push(batch);
        }
        if let Some(stats) = &self.settings.stats {
            stats.count(&events);
        }
        // No watcher is fine: the events are stored.
        let _ = self.live_events.send(events.into());
        Ok(())
    }

    /// Records events no task change makes (workers coming and going): numbered and stored like
    /// the rest. A broker that takes no writes now (failed, reopening its store) drops them.
    pub fn record(&self, events: Vec<Event>) {
        if let Err(err) = self.apply(Command::Record(events)) {
            tracing::debug!(cause = %err, "an event was not recorded");
        }
    }

    /// The oldest event number kept and one past the newest.
    pub fn event_window(&self) -> (u64, u64) {
        let core = self.core.lock();
        (core.events.oldest(), core.events.end)
    }

    /// Watchers connected now.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Removes the events retention no longer keeps; returns how many batches went.
    ///
    /// # Errors
    /// [`BrokerError::Store`] when the store cannot be written (the broker fails as on any
    /// failed write).
    pub fn trim_events(&self, retention: EventRetention) -> Result<usize, BrokerError> {
        let now_ms = self.clock.now_ms();
        let (store, epoch, trimmed) = {
            let mut core = self.core.lock();
            let epoch = core.epoch;
            let Some(Storage { store, .. }) = core.storage.as_ref() else {
                return Ok(0);
            };
            let store = store.clone();
            let Some(trimmed) = core.events.trim(retention, now_ms) else {
                return Ok(0);
            };
            (store, epoch, trimmed)
        };
        let (removed, floor) = trimmed;
        store
            .trim_events(&removed, floor)
            .map_err(|e| self.fail(e, epoch))?;
        Ok(removed.len())
    }

    /// Streams events to a watcher: from event `from` on (only new ones when `None`), those
    /// that `filter` takes, then live ones unless `follow` is false. Ends when the receiver is
    /// dropped, the broker shuts down, or with [`WatchItem::TooOld`] or [`WatchItem::Failed`].
    pub fn watch_events(
        self: &Arc<Self>,
        from: Option<u64>,
        filter: EventFilter,
        follow: bool,
    ) -> mpsc::Receiver<WatchItem> {
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        self.watchers.fetch_add(1, Ordering::Relaxed);
        let watching = Watching(self.clone());
        tokio::spawn(async move {
            let broker = watching.0.clone();
            let shutdown = broker.shutdown.clone();
            tokio::select! {
                () = broker.serve_watcher(from, &filter, follow, &tx) => {}
                () = shutdown.cancelled() => {}
                () = tx.closed() => {}
            }
            drop(watching);
        });
        rx
    }

    async fn serve_watcher(
        &self,
        from: Option<u64>,
        filter: &EventFilter,
        follow: bool,
        tx: &mpsc::Sender<WatchItem>,
    ) {
        // Subscribed before the window is read: every event past the window's end is then
        // sent to this receiver, so the store read and the live sends leave no gap.
        let mut live = self.live_events.subscribe();
        let (oldest, end) = self.event_window();
        let mut next = from.unwrap_or(end);
        let mut told_live = false;
        loop {
            // Catch up from the store, up to what was stored when the live sends were joined.
            let stored_end = self.event_window().1;
            while next < stored_end {
                let batch = match self.read_stored(next, stored_end, tx).await {
                    Some(batch) => batch,
                    None => return,
                };
                let Some(last) = batch.last().map(|e| e.seq) else {
                    // Nothing stored in [next, stored_end): numbers are sparse.
                    next = stored_end;
                    break;
                };
                for event in batch {
                    if filter.matches(&event) && tx.send(WatchItem::Event(event)).await.is_err() {
                        return;
                    }
                }
                next = last + 1;
            }
            if !follow {
                return;
            }
            if !told_live {
                told_live = true;
                let next_seq = next.max(oldest);
                if tx.send(WatchItem::Live { next_seq }).await.is_err() {
                    return;
                }
            }
            loop {
                match live.recv().await {
                    Ok(batch) => {
                        let from = next;
                        for event in batch.iter().filter(|e| e.seq >= from) {
                            next = event.seq + 1;
                            if filter.matches(event)
                                && tx.send(WatchItem::Event(event.clone())).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if tx
                            .send(WatchItem::Lagged { resume_from: next })
                            .await
                            .is_err()
                        {
                            return;
                        }
                        // Join the live sends again, then catch up from the store.
                        live = self.live_events.subscribe();
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }

    /// The stored events from `next` (up to `end`, a few records' worth), or `None` after
    /// telling the watcher why it ends: the events were trimmed, or the store failed.
    async fn read_stored(
        &self,
        next: u64,
        end: u64,
        tx: &mpsc::Sender<WatchItem>,
    ) -> Option<Vec<Event>> {
        let why = match self.trimmed_before(next) {
            Some(too_old) => too_old,
            None => match self.read_events(next, end).await {
                // Trimmed while it was read: what was read may have a hole, so it is not sent.
                Ok(events) => match self.trimmed_before(next) {
                    None => return Some(events),
                    Some(too_old) => too_old,
                },
                Err(failed) => WatchItem::Failed(failed),
            },
        };
        let _ = tx.send(why).await;
        None
    }

    /// [`WatchItem::TooOld`] if retention removed event `next`.
    fn trimmed_before(&self, next: u64) -> Option<WatchItem> {
        let core = self.core.lock();
        (next < core.events.floor).then(|| WatchItem::TooOld {
            asked: next,
            oldest_seq: core.events.oldest(),
        })
    }

    /// The stored events `next..end`, at most [`READ_BATCHES`] records of them, read on a
    /// blocking thread.
    async fn read_events(&self, next: u64, end: u64) -> Result<Vec<Event>, String> {
        let store = self
            .core
            .lock()
            .storage(&self.settings)
            .map(|storage| storage.store.clone())
            .map_err(|err| err.to_string())?;
        tokio::task::spawn_blocking(move || {
            store.read_events(next, end.saturating_sub(1), READ_BATCHES)
        })
        .await
        .map_err(|panicked| panicked.to_string())?
        .map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first_seq: u64, count: u32, last_at_ms: u64) -> EventBatch {
        EventBatch {
            first_seq,
            count,
            last_at_ms,
        }
    }

    #[test]
    fn retention_trims_whole_batches_by_count_and_by_age() {
        let mut index = EventIndex::recovered(0, vec![batch(10, 3, 100), batch(20, 2, 200)]);
        assert_eq!((index.oldest(), index.end), (10, 22));
        let by_count = EventRetention {
            max_count: 2,
            max_age_ms: u64::MAX,
        };
        assert_eq!(index.trim(by_count, 1_000), Some((vec![10], 13)));
        assert_eq!(index.trim(by_count, 1_000), None);
        let by_age = EventRetention {
            max_count: 100,
            max_age_ms: 500,
        };
        assert_eq!(index.trim(by_age, 600), None);
        assert_eq!(index.trim(by_age, 701), Some((vec![20], 22)));
        // Nothing kept: the oldest a watcher can have is the next one made.
        assert_eq!((index.oldest(), index.floor, index.end), (22, 22, 22));
    }
}
