//! `Admin.WatchEvents`: checks a watch request, and turns the broker's watch items into the
//! wire's stream.

use std::pin::Pin;
use std::sync::Arc;

use stalk_proto::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::convert::{self, FieldError};
use crate::broker::{Broker, WatchItem};
use crate::engine::{Event, EventFilter, EventKind};

/// Most values one filter list may hold.
const MAX_FILTER_VALUES: usize = 100;

/// The stream a watcher reads.
pub(crate) type EventStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchEventsResponse, Status>> + Send>>;

/// Starts a watch for a checked request.
///
/// # Errors
/// INVALID_ARGUMENT naming the filter that is wrong.
pub(crate) fn watch(
    broker: &Arc<Broker>,
    req: pb::WatchEventsRequest,
) -> Result<EventStream, FieldError> {
    let filter = filter(&req)?;
    let items = broker.watch_events(req.from_seq, filter, !req.stop_at_end);
    let stream = ReceiverStream::new(items).map(|item| {
        use pb::watch_events_response::Marker;
        let marker = match item {
            WatchItem::Events(events) => {
                return Ok(pb::WatchEventsResponse::with_events(
                    events.iter().map(event_to_pb).collect(),
                ))
            }
            WatchItem::Batch(batch) => {
                let wire = batch.wire_form(|events| {
                    let events: Vec<pb::Event> = events.iter().map(event_to_pb).collect();
                    pb::encode_events(&events)
                });
                return Ok(pb::WatchEventsResponse::encoded(wire));
            }
            WatchItem::Live { next_seq } => Marker::Live(pb::Live { next_seq }),
            WatchItem::Lagged { resume_from } => Marker::Lagged(pb::Lagged { resume_from }),
            WatchItem::TooOld { asked, oldest_seq } => Marker::TooOld(pb::TooOld {
                asked_seq: asked,
                oldest_seq,
            }),
            WatchItem::Failed(why) => {
                return Err(Status::unavailable(format!(
                    "the broker could not read its events: {why}"
                )))
            }
        };
        Ok(pb::WatchEventsResponse::with_marker(marker))
    });
    Ok(Box::pin(stream))
}

fn filter(req: &pb::WatchEventsRequest) -> Result<EventFilter, FieldError> {
    let lists = [
        ("types", &req.types),
        ("queues", &req.queues),
        ("task_names", &req.task_names),
        ("workers", &req.workers),
        ("task_ids", &req.task_ids),
    ];
    for (field, values) in lists {
        if values.len() > MAX_FILTER_VALUES {
            return Err(FieldError::invalid(
                field,
                format!(
                    "holds {} values; at most {MAX_FILTER_VALUES} are allowed",
                    values.len()
                ),
            ));
        }
    }
    let kinds = req
        .types
        .iter()
        .enumerate()
        .map(|(i, name)| {
            EventKind::parse(name).ok_or_else(|| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                FieldError::invalid(
                    format!("types[{i}]"),
                    format!("unknown event type {name:?}; known: {}", known.join(", ")),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    for (i, queue) in req.queues.iter().enumerate() {
        convert::name(&format!("queues[{i}]"), queue)?;
    }
    for (i, name) in req.task_names.iter().enumerate() {
        convert::name(&format!("task_names[{i}]"), name)?;
    }
    for (i, worker) in req.workers.iter().enumerate() {
        convert::name(&format!("workers[{i}]"), worker)?;
    }
    for (i, id) in req.task_ids.iter().enumerate() {
        convert::task_id(&format!("task_ids[{i}]"), id)?;
    }
    Ok(EventFilter {
        kinds,
        queues: req.queues.clone(),
        task_names: req.task_names.clone(),
        workers: req.workers.clone(),
        task_ids: req.task_ids.clone(),
    })
}

/// The wire form of an event.
pub(crate) fn event_to_pb(event: &Event) -> pb::Event {
    let state = match (event.kind, event.state) {
        (EventKind::Started, _) => pb::TaskState::Running,
        (_, Some(state)) => convert::state(state),
        (_, None) => pb::TaskState::Unspecified,
    };
    pb::Event {
        seq: event.seq,
        r#type: i32::try_from(event.kind.code()).unwrap_or(0),
        type_name: event.kind.name().to_owned(),
        at_unix_ms: convert::ms(event.at_ms),
        task_id: event
            .task_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        task_name: event.task_name.as_deref().unwrap_or_default().to_owned(),
        queue: event.queue.as_deref().unwrap_or_default().to_owned(),
        attempt: event.attempt,
        state: state.into(),
        worker: event.worker.as_deref().unwrap_or_default().to_owned(),
        due_at_unix_ms: convert::ms(event.due_ms),
        runtime_ms: event.runtime_ms,
        error: event.error.as_ref().map(|e| pb::Error {
            kind: e.kind.clone(),
            message: e.message.clone(),
        }),
        active: event.active,
        processed: event.processed,
        note: event.note.as_deref().unwrap_or_default().to_owned(),
        waited_ms: event.waited_ms,
    }
}
