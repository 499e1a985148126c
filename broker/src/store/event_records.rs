//! Event records: one record per command's events (a batch), keyed by the first event's
//! sequence number, so a command costs one more write however many events it made, and a
//! reader resumes with one range scan.
#![warn(clippy::indexing_slicing)]

use std::sync::Arc;

use prost::Message;

use super::keys::{self, EVENTS};
use super::records::{unversioned, versioned};
use super::StoreError;
use crate::engine::{Event, EventKind, TaskError, TaskId, TaskState};

/// The sled key of the batch whose first event is `seq`.
pub(crate) fn batch_key(seq: u64) -> [u8; 9] {
    keys::task_key(EVENTS, seq)
}

#[derive(Clone, PartialEq, Message)]
struct BatchRecord {
    #[prost(message, repeated, tag = "1")]
    events: Vec<EventRecord>,
}

#[derive(Clone, PartialEq, Message)]
struct EventRecord {
    #[prost(uint64, tag = "1")]
    seq: u64,
    #[prost(uint32, tag = "2")]
    kind: u32,
    #[prost(uint64, tag = "3")]
    at_ms: u64,
    #[prost(string, optional, tag = "4")]
    task_id: Option<String>,
    #[prost(string, optional, tag = "5")]
    task_name: Option<String>,
    #[prost(string, optional, tag = "6")]
    queue: Option<String>,
    #[prost(uint32, tag = "7")]
    attempt: u32,
    /// `TaskState::code() + 1`; 0 for none.
    #[prost(uint32, tag = "8")]
    state: u32,
    #[prost(string, optional, tag = "9")]
    worker: Option<String>,
    #[prost(uint64, tag = "10")]
    due_ms: u64,
    #[prost(uint64, tag = "11")]
    runtime_ms: u64,
    #[prost(string, optional, tag = "12")]
    error_kind: Option<String>,
    #[prost(string, optional, tag = "13")]
    error_message: Option<String>,
    #[prost(uint32, tag = "14")]
    active: u32,
    #[prost(uint64, tag = "15")]
    processed: u64,
    #[prost(string, optional, tag = "16")]
    note: Option<String>,
    #[prost(uint64, tag = "17")]
    waited_ms: u64,
}

/// The record of numbered events.
pub(crate) fn encode_batch(events: &[&Event]) -> Vec<u8> {
    let record = BatchRecord {
        events: events.iter().map(|e| encode_event(e)).collect(),
    };
    versioned(&record)
}

fn encode_event(event: &Event) -> EventRecord {
    EventRecord {
        seq: event.seq,
        kind: event.kind.code(),
        at_ms: event.at_ms,
        task_id: event.task_id.as_ref().map(ToString::to_string),
        task_name: event.task_name.as_deref().map(str::to_owned),
        queue: event.queue.as_deref().map(str::to_owned),
        attempt: event.attempt,
        state: event.state.map_or(0, |s| u32::from(s.code()) + 1),
        worker: event.worker.as_deref().map(str::to_owned),
        due_ms: event.due_ms,
        runtime_ms: event.runtime_ms,
        error_kind: event.error.as_ref().map(|e| e.kind.clone()),
        error_message: event.error.as_ref().map(|e| e.message.clone()),
        active: event.active,
        processed: event.processed,
        note: event.note.as_deref().map(str::to_owned),
        waited_ms: event.waited_ms,
    }
}

/// The events of a batch record.
///
/// # Errors
/// [`StoreError::Corrupt`] or [`StoreError::UnknownRecordVersion`] for a record that cannot be
/// read.
pub(crate) fn decode_batch(key: &[u8], bytes: &[u8]) -> Result<Vec<Event>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_vec(),
        reason,
    };
    let record =
        BatchRecord::decode(unversioned(key, bytes)?).map_err(|e| corrupt(e.to_string()))?;
    record
        .events
        .into_iter()
        .map(|r| {
            let kind = EventKind::from_code(r.kind)
                .ok_or_else(|| corrupt(format!("unknown event kind {}", r.kind)))?;
            let state = match r.state {
                0 => None,
                code => Some(
                    u8::try_from(code - 1)
                        .ok()
                        .and_then(TaskState::from_code)
                        .ok_or_else(|| corrupt(format!("unknown task state {}", code - 1)))?,
                ),
            };
            let error = match (r.error_kind, r.error_message) {
                (None, None) => None,
                (kind, message) => Some(TaskError {
                    kind: kind.unwrap_or_default(),
                    message: message.unwrap_or_default(),
                }),
            };
            Ok(Event {
                seq: r.seq,
                kind,
                at_ms: r.at_ms,
                task_id: r.task_id.as_deref().map(TaskId::new),
                task_name: r.task_name.map(Arc::from),
                queue: r.queue.map(Arc::from),
                attempt: r.attempt,
                state,
                worker: r.worker.map(Arc::from),
                due_ms: r.due_ms,
                runtime_ms: r.runtime_ms,
                waited_ms: r.waited_ms,
                error,
                active: r.active,
                processed: r.processed,
                note: r.note.map(Arc::from),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips() {
        let events = vec![
            Event {
                seq: 7 << 20,
                task_id: Some(TaskId::new("t-1")),
                task_name: Some(Arc::from("email")),
                queue: Some(Arc::from("default")),
                attempt: 2,
                state: Some(TaskState::Retrying),
                due_ms: 1_000,
                error: Some(TaskError {
                    kind: "Boom".into(),
                    message: "it broke".into(),
                }),
                ..Event::new(EventKind::Retried, 900)
            },
            Event {
                seq: (7 << 20) | 1,
                worker: Some(Arc::from("w1")),
                active: 3,
                processed: 40,
                note: Some(Arc::from("clean")),
                ..Event::new(EventKind::WorkerOffline, 901)
            },
        ];
        let key = batch_key(7 << 20);
        let refs: Vec<&Event> = events.iter().collect();
        assert_eq!(decode_batch(&key, &encode_batch(&refs)).ok(), Some(events));
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let record = BatchRecord {
            events: vec![EventRecord {
                kind: 999,
                ..EventRecord::default()
            }],
        };
        let err = decode_batch(&batch_key(1), &versioned(&record)).map(|_| ());
        assert!(matches!(err, Err(StoreError::Corrupt { .. })), "{err:?}");
    }
}
