//! The web dashboard: a page (assets embedded in the binary) and a JSON API it reads, served on
//! the broker's HTTP address.
//!
//! The API is a face of the gRPC services, not a second implementation: each handler calls the
//! service the CLI calls, so it runs the same checks and gives the same errors, mapped here from
//! gRPC status codes to HTTP ones.
//!
//! - `api.rs`: the JSON handlers (queues, workers, a task with its history and explain, dead
//!   letters and their replay, schedules, limits).
//! - `events.rs`: the live event feed, as server-sent events from `Admin.WatchEvents`.
//! - `auth.rs`: the broker's token guards the API (bearer header or the sign-in cookie).
//! - `shape.rs`: the answers' JSON shape.
//! - `assets/`: the page: HTML, CSS and plain JavaScript, no build step.

mod api;
mod auth;
mod events;
mod shape;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::service::Api;

/// The dashboard's routes: the page at `/`, its assets, and `/api/…`.
pub(crate) fn router(api: Api, token: Option<&str>, shutdown: CancellationToken) -> Router {
    let guard = auth::Guard::new(token);
    let guarded = Router::new()
        .route("/api/queues", get(api::queues))
        .route("/api/workers", get(api::workers))
        .route("/api/tasks/{id}", get(api::task))
        .route("/api/queues/{queue}/dead", get(api::dead_letters))
        .route("/api/queues/{queue}/dead/replay", post(api::replay))
        .route("/api/schedules", get(api::schedules))
        .route("/api/limits", get(api::limits))
        .route("/api/events", get(events::feed))
        .with_state(api::Shared { api, shutdown })
        .layer(axum::middleware::from_fn_with_state(
            guard.clone(),
            auth::require,
        ));
    Router::new()
        .route("/", get(page))
        .route("/assets/app.js", get(script))
        .route("/assets/app.css", get(style))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .with_state(guard)
        .merge(guarded)
}

async fn page() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The page reads live data through the API; the assets themselves may be cached
            // only until the broker is upgraded, so they are revalidated.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// An API error: an HTTP status and a JSON body `{"code": …, "message": …}`.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// A query string that does not parse.
    pub(super) fn query(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            rejection.body_text(),
        )
    }

    /// A JSON body that does not parse.
    pub(super) fn body(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(
            rejection.status(),
            "invalid_argument",
            rejection.body_text(),
        )
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let (http, code) = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            Code::FailedPrecondition | Code::Aborted => {
                (StatusCode::CONFLICT, "failed_precondition")
            }
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(http, code, status.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
