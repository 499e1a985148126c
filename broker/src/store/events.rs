//! The event log on disk: appending a command's events, reading them back from a sequence
//! number, trimming the oldest under retention, and the floor below which events are gone.

use super::event_records::{batch_key, decode_batch, encode_batch};
use super::keys::{decode_task_key, EVENTS, EVENTS_FLOOR};
use super::{Store, StoreError};
use crate::engine::Event;

/// What the event log's index keeps of one stored batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBatch {
    /// The first event's sequence number (the record's key).
    pub first_seq: u64,
    /// The last event's sequence number.
    pub last_seq: u64,
    /// How many events it holds (numbers are sparse: a record holds several commands' events).
    pub count: u32,
    /// Its last event's time, unix ms.
    pub last_at_ms: u64,
}

impl EventBatch {
    /// The index entry of a record of numbered events, in order; `None` for an empty one.
    pub fn of<E: std::borrow::Borrow<Event>>(events: &[E]) -> Option<Self> {
        let (first, last) = (events.first()?.borrow(), events.last()?.borrow());
        Some(Self {
            first_seq: first.seq,
            last_seq: last.seq,
            count: u32::try_from(events.len()).unwrap_or(u32::MAX),
            last_at_ms: last.at_ms,
        })
    }

    /// One past its last event's sequence number.
    pub fn end_seq(&self) -> u64 {
        self.last_seq + 1
    }
}

impl Store {
    /// Writes numbered events, in order, as one record (not flushed).
    ///
    /// # Errors
    /// [`StoreError::Io`] when sled fails.
    pub fn append_events(&self, events: &[&Event]) -> Result<(), StoreError> {
        if let Some(first) = events.first() {
            self.db.insert(batch_key(first.seq), encode_batch(events))?;
        }
        Ok(())
    }

    /// The stored events numbered `from..=until`, in order, reading at most `max_batches`
    /// records; a caller that got some asks again from after the last one.
    ///
    /// # Errors
    /// [`StoreError::Io`], or a decoding error for a damaged record.
    pub fn read_events(
        &self,
        from: u64,
        until: u64,
        max_batches: usize,
    ) -> Result<Vec<Event>, StoreError> {
        // The record that holds `from` is the last one keyed at or below it; the range starts at
        // the events' own keys, or a record of another kind keyed just below them (a task's
        // body) would be read as events.
        let start = match self.db.range(batch_key(0)..=batch_key(from)).next_back() {
            Some(entry) => entry?.0.to_vec(),
            None => batch_key(0).to_vec(),
        };
        let end = batch_key(until).to_vec();
        let mut out = Vec::new();
        for entry in self.db.range(start..=end).take(max_batches) {
            let (key, value) = entry?;
            out.extend(
                decode_batch(&key, &value)?
                    .into_iter()
                    .filter(|e| e.seq >= from && e.seq <= until),
            );
        }
        Ok(out)
    }

    /// Removes the batches that start at `first_seqs`, after recording `floor` (the lowest
    /// sequence number still kept), so that a reader never mistakes the removed ones for none.
    ///
    /// # Errors
    /// [`StoreError::Io`] when sled fails.
    pub fn trim_events(&self, first_seqs: &[u64], floor: u64) -> Result<(), StoreError> {
        self.db.insert(EVENTS_FLOOR, &floor.to_be_bytes())?;
        for &seq in first_seqs {
            self.db.remove(batch_key(seq))?;
        }
        Ok(())
    }

    /// The event floor and the index of every stored batch, oldest first.
    pub(super) fn read_event_index(&self) -> Result<(u64, Vec<EventBatch>), StoreError> {
        let floor = match self.db.get(EVENTS_FLOOR)? {
            Some(bytes) => {
                let array: [u8; 8] =
                    bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        key: EVENTS_FLOOR.to_vec(),
                        reason: format!("expected 8 bytes, found {}", bytes.len()),
                    })?;
                u64::from_be_bytes(array)
            }
            None => 0,
        };
        let mut batches = Vec::new();
        for entry in self.db.scan_prefix([EVENTS]) {
            let (key, value) = entry?;
            let first_seq = decode_task_key(EVENTS, &key).ok_or_else(|| StoreError::Corrupt {
                key: key.to_vec(),
                reason: "malformed event key".into(),
            })?;
            // A batch below the floor outlived a crash in the middle of a trim: finish it.
            if first_seq < floor {
                self.db.remove(&key)?;
                continue;
            }
            if let Some(batch) = EventBatch::of(&decode_batch(&key, &value)?) {
                batches.push(batch);
            }
        }
        Ok((floor, batches))
    }
}
