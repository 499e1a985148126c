//! The event stream: numbering a command's events, storing them with its writes, sending them
//! live, trimming them under retention, and serving watchers ([`Broker::watch_events`]).
//!
//! An event's sequence number is derived from its command's (`seq << SUB_BITS | index`), so
//! it only grows, across restarts too, with no counter of its own. Events are recorded under
//! the engine lock, in order, right after the writes of the command that made them, sent live
//! from there, and written to the store with the next flush (see `event_log.rs`).
//!
//! A watcher first reads what it asked for from the log (stored, then pending), then follows
//! the live sends. One
//! that falls behind the live sends (a slow reader) is told so and reads from the store again
//! from where it was: it misses nothing while its events are retained, and it never slows the
//! broker or another watcher. One that asks for events retention already removed is told the
//! oldest it can have.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use tokio::sync::{broadcast, mpsc};

use super::event_log::EventLog;
use super::{Broker, BrokerError};
use crate::engine::{Command, Event, EventFilter, SUB_BITS};
use crate::store::{Store, StoreError};

/// Batches of live events a watcher may fall behind by before it reads from the store again.
pub(super) const LIVE_BACKLOG: usize = 1024;
/// Store records a watcher reads at a time while it catches up.
const READ_BATCHES: usize = 64;
/// Items queued for one watcher's stream before its reader waits.
const WATCH_QUEUE: usize = 256;

/// How many events are kept, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRetention {
    /// Most events kept (whole records, the events of the commands between two flushes, are
    /// trimmed, oldest first).
    pub max_count: u64,
    /// Events older than this many ms are trimmed.
    pub max_age_ms: u64,
}

/// Most events in one [`WatchItem::Events`].
pub const WATCH_BATCH: usize = 1000;

/// One command's events as the live sends carry them, with a place for their wire form: made
/// by the first watcher that sends the batch whole, and shared by every other.
#[derive(Debug)]
pub struct LiveBatch {
    events: Arc<[Event]>,
    wire: OnceLock<Bytes>,
}

/// Batches are equal when their events are (the wire form is made from them).
impl PartialEq for LiveBatch {
    fn eq(&self, other: &Self) -> bool {
        self.events == other.events
    }
}

impl Eq for LiveBatch {}

impl LiveBatch {
    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events' wire form: `encode`'s, the first time it is asked for.
    pub fn wire_form(&self, encode: impl FnOnce(&[Event]) -> Bytes) -> Bytes {
        self.wire.get_or_init(|| encode(&self.events)).clone()
    }
}

/// What a watcher receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// Events that matched the filter, in order (at most [`WATCH_BATCH`]).
    Events(Vec<Event>),
    /// A live batch the filter takes whole (at most [`WATCH_BATCH`] events): the same one
    /// goes to every such watcher.
    Batch(Arc<LiveBatch>),
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
    /// Numbers a command's events, records them and sends them live. Called under the engine
    /// lock, right after the command's writes, so events leave in order.
    pub(super) fn record_events(&self, log: &EventLog, seq: u64, mut events: Vec<Event>) {
        // A command's width bounds its events far below 2^SUB_BITS (a few per task).
        events.truncate(1 << SUB_BITS);
        for (i, event) in events.iter_mut().enumerate() {
            event.seq = (seq << SUB_BITS) | i as u64;
        }
        if let Some(stats) = &self.settings.stats {
            stats.count(&events);
        }
        let events: Arc<[Event]> = events.into();
        log.record(events.clone());
        // No watcher is fine: the events are in the log.
        let _ = self.live_events.send(Arc::new(LiveBatch {
            events,
            wire: OnceLock::new(),
        }));
    }

    /// Records events no task change makes (workers coming and going): numbered and stored like
    /// the rest. A broker that takes no writes now (failed, reopening its store) drops them.
    pub fn record(&self, events: Vec<Event>) {
        if let Err(err) = self.apply(Command::Record(events)) {
            tracing::debug!(cause = %err, "an event was not recorded");
        }
    }

    /// The event log of the open store, and the store.
    fn event_log(&self) -> Result<(Arc<EventLog>, Arc<Store>, u64), StoreError> {
        let core = self.core.lock();
        let storage = core.storage(&self.settings)?;
        Ok((core.events.clone(), storage.store.clone(), core.epoch))
    }

    /// Watchers connected now.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Writes the events that wait for no flush (see `event_log.rs`).
    ///
    /// # Errors
    /// [`BrokerError::Store`] when the store cannot be written (the broker fails as on any
    /// failed write).
    pub fn drain_events(&self) -> Result<(), BrokerError> {
        let Ok((log, store, epoch)) = self.event_log() else {
            return Ok(());
        };
        log.drain(&store).map_err(|e| self.fail(e, epoch))
    }

    /// Removes the events retention no longer keeps; returns how many records went.
    ///
    /// # Errors
    /// [`BrokerError::Store`] when the store cannot be written (the broker fails as on any
    /// failed write).
    pub fn trim_events(&self, retention: EventRetention) -> Result<usize, BrokerError> {
        let Ok((log, store, epoch)) = self.event_log() else {
            return Ok(0);
        };
        let Some((removed, floor)) = log.trim(retention, self.clock.now_ms()) else {
            return Ok(0);
        };
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
        let mut next = from;
        let mut told_live = false;
        loop {
            // Subscribed before the snapshot: every event recorded after the snapshot is then
            // sent to this receiver, so the catch-up and the live sends leave no gap.
            let mut live = self.live_events.subscribe();
            let Some(caught_up) = self.catch_up(next, filter, tx).await else {
                return;
            };
            if !follow {
                return;
            }
            if !told_live {
                told_live = true;
                if tx
                    .send(WatchItem::Live {
                        next_seq: caught_up,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let Some(lagged_at) = forward_live(&mut live, caught_up, filter, tx).await else {
                return;
            };
            if tx
                .send(WatchItem::Lagged {
                    resume_from: lagged_at,
                })
                .await
                .is_err()
            {
                return;
            }
            next = Some(lagged_at);
        }
    }

    /// Sends the events from `from` (the end of the log when `None`) to the end of the log as
    /// a snapshot sees it: the stored ones, then the pending ones. Returns where the live sends
    /// take over, or `None` after telling the watcher why it ends.
    async fn catch_up(
        &self,
        from: Option<u64>,
        filter: &EventFilter,
        tx: &mpsc::Sender<WatchItem>,
    ) -> Option<u64> {
        let (log, store) = match self.event_log() {
            Ok((log, store, _)) => (log, store),
            Err(err) => {
                let _ = tx.send(WatchItem::Failed(err.to_string())).await;
                return None;
            }
        };
        let snapshot = log.snapshot();
        let mut next = from.unwrap_or(snapshot.end);
        if next < snapshot.floor {
            let _ = tx.send(too_old(next, snapshot.oldest)).await;
            return None;
        }
        while next < snapshot.stored_end {
            let read = read_stored(&store, next, snapshot.stored_end).await;
            // Trimmed while it was read: what was read may have a hole, so it is not sent.
            if next < log.floor() {
                let _ = tx.send(too_old(next, log.snapshot().oldest)).await;
                return None;
            }
            let events = match read {
                Ok(events) => events,
                Err(failed) => {
                    let _ = tx.send(WatchItem::Failed(failed)).await;
                    return None;
                }
            };
            let Some(last) = events.last().map(|e| e.seq) else {
                // Nothing stored in [next, stored_end): numbers are sparse.
                break;
            };
            let matching = events.into_iter().filter(|e| filter.matches(e));
            if !send_events(tx, matching).await {
                return None;
            }
            next = last + 1;
        }
        next = next.max(snapshot.stored_end);
        let from = next;
        let pending = snapshot.pending.iter().flat_map(|b| b.iter());
        let matching = pending
            .filter(|e| e.seq >= from && filter.matches(e))
            .cloned();
        if !send_events(tx, matching).await {
            return None;
        }
        // Everything below the snapshot's end was stored or pending, and is sent.
        Some(next.max(snapshot.end))
    }
}

/// Forwards live events from `next` on until the receiver lags (returns where the watcher is)
/// or the watcher or the broker goes (`None`).
async fn forward_live(
    live: &mut broadcast::Receiver<Arc<LiveBatch>>,
    mut next: u64,
    filter: &EventFilter,
    tx: &mpsc::Sender<WatchItem>,
) -> Option<u64> {
    loop {
        match live.recv().await {
            Ok(batch) => {
                let from = next;
                let events = batch.events();
                if let Some(last) = events.last() {
                    next = next.max(last.seq + 1);
                }
                let whole = events.len() <= WATCH_BATCH
                    && events.iter().all(|e| e.seq >= from && filter.matches(e));
                let sent = if whole {
                    tx.send(WatchItem::Batch(batch)).await.is_ok()
                } else {
                    let matching = events
                        .iter()
                        .filter(|e| e.seq >= from && filter.matches(e))
                        .cloned();
                    send_events(tx, matching).await
                };
                if !sent {
                    return None;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => return Some(next),
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Sends `events` in messages of at most [`WATCH_BATCH`]; false when the watcher is gone.
async fn send_events(tx: &mpsc::Sender<WatchItem>, events: impl Iterator<Item = Event>) -> bool {
    let mut batch = Vec::new();
    for event in events {
        batch.push(event);
        if batch.len() == WATCH_BATCH
            && tx
                .send(WatchItem::Events(std::mem::take(&mut batch)))
                .await
                .is_err()
        {
            return false;
        }
    }
    batch.is_empty() || tx.send(WatchItem::Events(batch)).await.is_ok()
}

fn too_old(asked: u64, oldest_seq: u64) -> WatchItem {
    WatchItem::TooOld { asked, oldest_seq }
}

/// The stored events `next..end`, at most [`READ_BATCHES`] records of them, read on a
/// blocking thread.
async fn read_stored(store: &Arc<Store>, next: u64, end: u64) -> Result<Vec<Event>, String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        store.read_events(next, end.saturating_sub(1), READ_BATCHES)
    })
    .await
    .map_err(|panicked| panicked.to_string())?
    .map_err(|err| err.to_string())
}
