//! The live event feed: `Admin.WatchEvents` as server-sent events, so a page follows it with
//! the browser's `EventSource`, which reconnects by itself and resumes where it stopped.
//!
//! Each message carries one batch of events (`event: events`, data a JSON array) with the last
//! one's number as its id; a reconnecting `EventSource` sends it back as `Last-Event-ID` and the
//! feed resumes after it. The stream's markers arrive as `live`, `lagged` and `too_old`
//! messages.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use stalk_proto::v1 as pb;
use stalk_proto::v1::admin_server::Admin;
use tonic::Request;

use super::api::Shared;
use super::{shape, ApiError};

/// A feed's filters, as `stalk events` takes them (comma-separated lists).
#[derive(Deserialize, Default)]
pub(super) struct Filters {
    /// Start here: every retained event from this number on, then live ones.
    from: Option<u64>,
    #[serde(default)]
    types: String,
    #[serde(default)]
    queues: String,
    #[serde(default)]
    task_names: String,
    #[serde(default)]
    workers: String,
    #[serde(default)]
    task_ids: String,
}

fn list(values: &str) -> Vec<String> {
    values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GET /api/events`: the event stream, filtered, from `Last-Event-ID` + 1, else `from`, else
/// now.
pub(super) async fn feed(
    State(s): State<Shared>,
    headers: HeaderMap,
    filters: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(filters) = filters.map_err(ApiError::query)?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|seen| seen.saturating_add(1));
    let request = Request::new(pb::WatchEventsRequest {
        from_seq: resumed.or(filters.from),
        types: list(&filters.types),
        queues: list(&filters.queues),
        task_names: list(&filters.task_names),
        workers: list(&filters.workers),
        task_ids: list(&filters.task_ids),
        stop_at_end: false,
    });
    let stream = s.api.admin.watch_events(request).await?.into_inner();
    let messages = stream
        .map(|message| {
            // Live batches come encoded once for every watcher: decoded here to be shown.
            let message = message.and_then(|mut message| {
                message
                    .decode_encoded()
                    .map(|()| message)
                    .map_err(|e| tonic::Status::internal(e.to_string()))
            });
            Ok(match message {
                Ok(message) => message_of(&message),
                Err(status) => Event::default()
                    .event("failed")
                    .data(json!({ "message": status.message() }).to_string()),
            })
        })
        .take_until(s.shutdown.cancelled_owned());
    Ok(Sse::new(messages).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One stream message as one server-sent event.
fn message_of(message: &pb::WatchEventsResponse) -> Event {
    use pb::watch_events_response::Marker;
    match &message.marker {
        None => {
            let events: Vec<Value> = message.events.iter().map(shape::event).collect();
            let event = Event::default()
                .event("events")
                .data(Value::Array(events).to_string());
            match message.events.last() {
                Some(last) => event.id(last.seq.to_string()),
                None => event,
            }
        }
        Some(Marker::Live(live)) => Event::default()
            .event("live")
            .data(json!({ "next_seq": live.next_seq }).to_string()),
        Some(Marker::Lagged(lagged)) => Event::default()
            .event("lagged")
            .data(json!({ "resume_from": lagged.resume_from }).to_string()),
        Some(Marker::TooOld(too_old)) => Event::default().event("too_old").data(
            json!({ "asked_seq": too_old.asked_seq, "oldest_seq": too_old.oldest_seq }).to_string(),
        ),
    }
}
