//! stalk-worker: run task handlers written in Rust against a stalk broker.
//!
//! A [`Worker`] opens a streaming session (`Workers.Session`), grants the broker as many credits
//! as it has free slots, runs each pushed task on the tokio runtime, and acknowledges results on
//! the same stream. Unknown task names go to the dead-letter set with a clear error instead of
//! being retried forever; a handler's [`TaskError`] says whether the failure is worth a retry
//! (`?` on any standard error makes a retryable one).
//!
//! Attempts run in a pool ([`PoolKind`]): tokio tasks, threads, or prefork child processes that
//! are replaced after a number of tasks, past a memory limit or an age ([`ChildLimits`]). The
//! worker is built from [`Step`]s (bootsteps) ordered by what they require; user steps provide
//! resources that tasks read from their [`TaskContext`].
//!
//! # Layout
//! Each module imports only modules listed before it, so no two import each other.
//! - `error`: [`TaskError`] (what a handler returns), [`StepError`] and [`WorkerError`] (what
//!   running fails with).
//! - `backoff`: jittered exponential backoff, for waiting on the broker.
//! - `time`: time limits (soft and hard) and durations in whole milliseconds.
//! - `identity`: the host name and SDK version a worker reports.
//! - `metrics`: the worker's Prometheus metrics (`stalk_worker_*`), the recorder it owns and
//!   the `/metrics` endpoint it serves when asked (`--metrics-listen`).
//! - `resources`: [`Resources`], values steps provide to tasks, by type.
//! - `context`: [`TaskContext`], the attempt a handler runs: its task's [`TaskMeta`] (id,
//!   name, queue, attempt, priority, headers, times), its soft time limit, step resources.
//! - `commands`: [`CommandArgs`] and [`CommandReply`]: user-defined control commands.
//! - `policy`: [`RetryPolicy`], which failure kinds retry (`autoretry_for` and its opposite).
//! - `registry`: [`Registry`], task names to handlers (JSON in and out by default).
//! - `pool`: the async, threads and prefork pools ([`PoolKind`]); the prefork child's side and
//!   wire format.
//! - `steps`: [`Step`] and [`StepContext`], their ordering, the built-in steps and what they ask
//!   of the session.
//! - `link`: what a worker talks to: the broker (TLS or not) or its prefork parent.
//! - `session`: the session as a state machine (what runs, waits and is unsent; one method per
//!   event), the loop that feeds it (reconnects, warm and cold shutdown) and the typed sender
//!   of every message to the broker.
//! - `worker`: [`Worker`]: starts the steps, runs the session, stops the steps.
//! - `builder`: [`WorkerBuilder`], the settings, checked on connect.
//! - `trace`: the `task` span each attempt runs in, with its producer's W3C trace context
//!   ([`TRACEPARENT`], [`TRACESTATE`]).
//! - `logging`: [`init_logging`] in a [`LogFormat`], with the HTTP/2 stack kept quiet.
//! - `mapping`: map tasks (the `stalk-map` header): the handler run once per item.
//! - `cli`: [`WorkerArgs`] and [`worker_args!`], a ready-made command line (flags with `STALK_*`
//!   twins) that carries the program's own name and version.
//!
//! # Features
//! - `opentelemetry` (off by default): each task span becomes a child of the producer's span
//!   in OpenTelemetry, read from the task's [`TRACEPARENT`] and [`TRACESTATE`] headers, when the
//!   program installs a `tracing-opentelemetry` layer; a producer sets those headers with
//!   `stalk-client`'s feature of the same name (`Task::with_current_trace`). Without it the
//!   span still records the producer's `trace_id` and `parent_span_id` as fields. It builds
//!   `opentelemetry`, `opentelemetry_sdk` (for the W3C propagator) and `tracing-opentelemetry`.
//!
//! # Example
//! ```no_run
//! use stalk_worker::{TaskError, Worker};
//!
//! # async fn demo() -> Result<(), stalk_worker::WorkerError> {
//! let worker = Worker::builder("127.0.0.1:7070")
//!     .queues(["math"])
//!     .concurrency(8)
//!     .task("add", |(a, b): (i64, i64)| async move { Ok::<_, TaskError>(a + b) })
//!     .connect()
//!     .await?;
//! worker.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod backoff;
mod builder;
mod cli;
mod commands;
mod context;
mod error;
mod identity;
mod link;
mod logging;
mod mapping;
mod metrics;
mod policy;
mod pool;
mod registry;
mod resources;
mod session;
mod steps;
mod time;
mod trace;
mod worker;

/// Implement [`Step`] with it: `#[stalk_worker::async_trait]` (re-exported so a worker crate
/// does not need its own dependency).
pub use async_trait::async_trait;
pub use builder::{
    WorkerBuilder, DEFAULT_CONCURRENCY, DEFAULT_HEARTBEAT, DEFAULT_LEASE, DEFAULT_PREFETCH_LEASE,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
/// clap, for a program that builds its own command line around [`WorkerArgs`].
pub use clap;
pub use cli::WorkerArgs;
pub use commands::{CommandArgs, CommandReply};
pub use context::{TaskContext, TaskMeta};
pub use error::{StepError, TaskError, WorkerError};
pub use logging::{init_logging, LogFormat};
pub use policy::RetryPolicy;
pub use pool::{is_prefork_child, ChildLimits, PoolKind};
pub use registry::Registry;
pub use resources::Resources;
pub use steps::{Step, StepContext, CONNECTION, CONTROL, HEARTBEAT, LEASE_KEEPER, POOL, SESSION};
pub use trace::{TRACEPARENT, TRACESTATE};
pub use worker::Worker;

/// The README's Rust examples (client and worker), compiled as doctests so the tour cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
