//! The async Rust client for stalk: connect to a `stalkd` broker, enqueue tasks, read their
//! results, lease and acknowledge them from simple workers, and inspect queues. Every call is one
//! gRPC call of the `stalk.v1` API (`proto/stalk/v1/*.proto`), whose comments give the exact
//! semantics, bounds and defaults; this crate turns them into Rust types and [`ClientError`]s.
//! The `stalk` command-line tool (`src/bin/stalk/main.rs`) is built on it.
//!
//! It is not a worker runtime: for pools, prefetch over the streaming `Session`, lease keeping
//! and graceful shutdown use `stalk-worker`. The unary [`Client::lease`] and ack calls here are
//! for scripts, tests and simple consumers.
//!
//! # Features
//! - `cli` (default): the `stalk` binary and its dependencies; a program that only uses the
//!   library turns default features off.
//! - `opentelemetry`: `Task::with_current_trace`, which sends the current `tracing` span's
//!   OpenTelemetry context in the task's W3C `traceparent`/`tracestate` headers, so a worker
//!   with stalk-worker's `opentelemetry` feature continues the trace. It builds `opentelemetry`,
//!   `opentelemetry_sdk` (for the W3C propagator), `tracing` and `tracing-opentelemetry`.
//!
//! # Layout
//! - `client`: [`Client`] (a cheap-clone connection) and [`ClientBuilder`] (auth token, TLS, timeouts).
//! - `addr`: parsing `host:port` / `http(s)://host:port` broker addresses.
//! - `task`: [`Task`], the builder of one task to enqueue.
//! - `enqueue`: [`Client::enqueue`], [`Client::enqueue_many`] and [`TaskHandle`].
//! - `canvas`: workflows: [`Canvas`], [`chain`], [`group`], [`chord`] (and the `chain!` and
//!   `group!` macros), submitted with [`Client::enqueue_workflow`].
//! - `status`: [`TaskStatus`] and the long-polling [`Client::result`] / [`Client::wait_for`].
//! - `lease`: [`Client::lease`], acks, nacks and lease extension; [`LeasedTask`], [`LeaseRef`].
//! - `ack_many`: [`Client::ack_many`], many acks in one call.
//! - `revoke`: [`Client::revoke`], [`Client::revoke_by_headers`] and what they did per task ([`Revoked`], [`RevokedWhile`]).
//! - `admin`: queue stats, task listings, purge, dead-letter replay.
//! - `workers`: [`Client::list_workers`] and [`Client::control_workers`] (ping, shutdown).
//! - `limits`: [`Client::set_limit`], [`Client::remove_limit`], [`Client::limits`].
//! - `state`: [`TaskState`], the lifecycle states.
//! - `error`: [`ClientError`], every failure with what to do about it.
//! - `wire`: conversions between Rust times and the wire's millisecond integers.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use stalk_client::{Client, LeaseOptions, Task, TaskState};
//!
//! # async fn example() -> Result<(), stalk_client::ClientError> {
//! let client = Client::connect("127.0.0.1:7070").await?;
//!
//! // Producer: enqueue a task with a JSON payload.
//! let task = Task::new("email.send").json(&serde_json::json!({ "to": "ada@example.com" }))?;
//! let handle = client.enqueue(task).await?;
//!
//! // Worker: lease it, do the work, acknowledge it with a JSON result.
//! let options = LeaseOptions {
//!     wait: Duration::from_secs(5),
//!     ..LeaseOptions::new(["default"])
//! };
//! for leased in client.lease(options).await? {
//!     let args: serde_json::Value = leased.json()?;
//!     client.ack_json(&leased, &serde_json::json!({ "sent_to": args["to"] })).await?;
//! }
//!
//! // Producer again: wait for the result.
//! let status = handle.wait(&client, Duration::from_secs(30)).await?;
//! assert_eq!(status.state, TaskState::Succeeded);
//! let result: serde_json::Value = status.json()?;
//! println!("{result}");
//! # Ok(())
//! # }
//! ```

mod ack_many;
mod addr;
mod admin;
mod canvas;
mod client;
mod enqueue;
mod error;
mod events;
mod explain;
mod health;
mod lease;
mod limits;
mod revoke;
mod schedules;
mod state;
mod status;
mod task;
mod wire;
mod workers;

pub use ack_many::AckOutcome;
pub use admin::{QueueStats, TaskSummary};
pub use canvas::{
    chain, chord, group, Canvas, ChordPolicy, WorkflowGraft, WorkflowHandle, WorkflowStatus,
    WorkflowTree,
};
pub use client::{Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, MAX_MESSAGE_BYTES};
pub use enqueue::TaskHandle;
pub use error::ClientError;
pub use events::{Event, EventQuery, EventWatch, TaskHistory, WatchItem};
pub use explain::{ExplainReason, Explanation};
pub use lease::{LeaseOptions, LeaseRef, LeasedTask};
pub use limits::{Limit, LimitInfo};
pub use revoke::{Revoked, RevokedByHeaders, RevokedWhile};
pub use schedules::{Misfire, Overlap, Recurrence, Schedule, ScheduleInfo};
pub use state::{ParseTaskStateError, TaskState};
pub use status::{is_json_content_type, TaskFailure, TaskResult, TaskStatus, MAX_POLL_WAIT};
pub use task::{Task, JSON_CONTENT_TYPE};
pub use workers::{WorkerCommand, WorkerInfo, WorkerReply};

/// The generated wire types, for callers that need a field this crate does not wrap.
pub use stalk_proto::v1 as proto;
