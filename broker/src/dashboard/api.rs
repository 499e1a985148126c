//! The dashboard's JSON handlers: each calls the gRPC service the CLI calls.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use stalk_proto::v1 as pb;
use stalk_proto::v1::admin_server::Admin;
use stalk_proto::v1::schedules_server::Schedules;
use stalk_proto::v1::task_queue_server::TaskQueue;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request};

use super::{shape, ApiError};
use crate::service::Api;

/// What the handlers share.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) api: Api,
    /// Ends the live feeds when the broker shuts down (they would hold it open).
    pub(super) shutdown: CancellationToken,
}

type Answer = Result<Json<Value>, ApiError>;

/// `GET /api/queues`: every queue's depth by state.
pub(super) async fn queues(State(s): State<Shared>) -> Answer {
    let request = Request::new(pb::QueueStatsRequest::default());
    let stats = s.api.admin.queue_stats(request).await?.into_inner();
    Ok(Json(shape::queues(&stats)))
}

/// `GET /api/workers`: the connected workers.
pub(super) async fn workers(State(s): State<Shared>) -> Answer {
    let request = Request::new(pb::ListWorkersRequest::default());
    let workers = s.api.admin.list_workers(request).await?.into_inner();
    Ok(Json(shape::workers(&workers)))
}

/// `GET /api/tasks/{id}`: the task's record, why it is not running, and its history.
pub(super) async fn task(State(s): State<Shared>, Path(id): Path<String>) -> Answer {
    let request = Request::new(pb::GetResultRequest {
        task_id: id.clone(),
        wait_ms: 0,
    });
    let record = s.api.queue.get_result(request).await?.into_inner();
    let request = Request::new(pb::ExplainRequest {
        task_id: id.clone(),
    });
    let explain = match s.api.admin.explain(request).await {
        Ok(explained) => shape::explain(&explained.into_inner()),
        Err(status) if status.code() == Code::NotFound => Value::Null,
        Err(status) => return Err(status.into()),
    };
    let (history, truncated) = history(&s.api, &id).await?;
    if record.state == i32::from(pb::TaskState::Unknown) && history.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "task {id:?} is not known to the broker (never enqueued, or its result expired)"
            ),
        ));
    }
    Ok(Json(json!({
        "task": shape::task(&record),
        "explain": explain,
        "history": history,
        "history_truncated": truncated,
    })))
}

/// A task's retained events, oldest first, and whether retention cut their start.
async fn history(api: &Api, id: &str) -> Result<(Vec<Value>, bool), ApiError> {
    let mut from_seq = 0;
    let mut truncated = false;
    loop {
        let request = Request::new(pb::WatchEventsRequest {
            from_seq: Some(from_seq),
            task_ids: vec![id.to_owned()],
            stop_at_end: true,
            ..pb::WatchEventsRequest::default()
        });
        let mut stream = api.admin.watch_events(request).await?.into_inner();
        let mut events = Vec::new();
        let mut restart = None;
        while let Some(message) = stream.next().await {
            let mut message = message?;
            message
                .decode_encoded()
                .map_err(|e| tonic::Status::internal(e.to_string()))?;
            events.extend(message.events.iter().map(shape::event));
            if let Some(pb::watch_events_response::Marker::TooOld(too_old)) = message.marker {
                restart = Some(too_old.oldest_seq);
            }
        }
        match restart {
            // Retention removed the start of the log meanwhile: read what is kept.
            Some(oldest) if oldest > from_seq => {
                from_seq = oldest;
                truncated = true;
            }
            _ => return Ok((events, truncated)),
        }
    }
}

/// Which page of a listing.
#[derive(Deserialize)]
pub(super) struct Page {
    #[serde(default)]
    page_token: String,
    #[serde(default)]
    page_size: u32,
}

/// `GET /api/queues/{queue}/dead`: a page of the queue's dead letters.
pub(super) async fn dead_letters(
    State(s): State<Shared>,
    Path(queue): Path<String>,
    page: Result<Query<Page>, QueryRejection>,
) -> Answer {
    let Query(page) = page.map_err(ApiError::query)?;
    let request = Request::new(pb::ListTasksRequest {
        queue,
        state: pb::TaskState::Failed.into(),
        page_size: page.page_size,
        page_token: page.page_token,
    });
    let listed = s.api.admin.list_tasks(request).await?.into_inner();
    Ok(Json(shape::tasks(&listed)))
}

/// What a replay posts: the dead letters to replay; none replays them all.
#[derive(Deserialize)]
pub(super) struct Replay {
    #[serde(default)]
    task_ids: Vec<String>,
}

/// `POST /api/queues/{queue}/dead/replay`: sends dead letters back to their queue.
pub(super) async fn replay(
    State(s): State<Shared>,
    Path(queue): Path<String>,
    replay: Result<Json<Replay>, JsonRejection>,
) -> Answer {
    let Json(replay) = replay.map_err(ApiError::body)?;
    let request = Request::new(pb::ReplayDeadLettersRequest {
        queue,
        task_ids: replay.task_ids,
        limit: 0,
    });
    let replayed = s.api.admin.replay_dead_letters(request).await?.into_inner();
    Ok(Json(json!({ "task_ids": replayed.task_ids })))
}

/// `GET /api/schedules`.
pub(super) async fn schedules(State(s): State<Shared>) -> Answer {
    let request = Request::new(pb::ListSchedulesRequest::default());
    let listed = s.api.schedules.list_schedules(request).await?.into_inner();
    Ok(Json(shape::schedules(&listed)))
}

/// `GET /api/limits`.
pub(super) async fn limits(State(s): State<Shared>) -> Answer {
    let request = Request::new(pb::ListLimitsRequest::default());
    let listed = s.api.admin.list_limits(request).await?.into_inner();
    Ok(Json(shape::limits(&listed)))
}
