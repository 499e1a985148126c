//! Integration tests of the broker: a real broker on `127.0.0.1:0` with a temp data dir, driven
//! through the real client SDK (and, for crash tests, the real `stalkd` binary).
//!
//! One binary, one module per behaviour:
//! - `enqueue`: priorities, FIFO, batches, idempotent ids and unique keys.
//! - `priorities`: priority aging lets a waiting low-priority task past newer high ones, and
//!   READY listings show that aged lease order.
//! - `fixtures`: a committed v1 data dir still loads.
//! - `leases`: long polls, lease expiry and redelivery, fencing, extend.
//! - `retries`: failure backoff, dead letters and replay, nack.
//! - `schedules`: periodic schedules: firing once per slot across restarts, CRUD, bad specs.
//! - `results`: GetResult with wait, TTL, unknown ids.
//! - `revoke`: revoked tasks never run and cannot be acked.
//! - `admin`: queue stats, listings, purge.
//! - `bad_input`: every refusal names the field and loses nothing.
//! - `malformed`: bytes that are not a valid request are the caller's fault (a raw-bytes catalogue).
//! - `metadata`: oversized metadata fails its own call, never the connection.
//! - `events`: the event stream: order, resume, too-old, restart, slow watchers.
//! - `metrics`: Prometheus metrics on their own address, sampled at scrape time.
//! - `browser`: the web dashboard in headless Chromium over WebDriver.
//! - `dashboard`: the web dashboard's JSON API: answers, bad input, the token.
//! - `auth`: bearer tokens and TLS.
//! - `recovery`: restart on the same data dir keeps everything.
//! - `session`: worker sessions: credits, pushed tasks, acks on the stream, release on close.
//! - `session_acks`: each answer to a session's acks names what it answers; refusals say why.
//! - `reconnect`: a broken session: the reconnect grace, and silence ending a session.
//! - `shutdown`: graceful shutdown ends long polls and loses nothing.
//! - `model`: engine + store against an in-memory model, with restarts (proptest).
//! - `crash`: `kill -9` of the real `stalkd` under load loses nothing acknowledged.
//! - `damaged`: a data dir damaged while stopped is refused, or loses nothing.
//! - `disk_full`: a full disk refuses with RESOURCE_EXHAUSTED, the free-space watermark, and
//!   reopening a data dir whose disk filled (on a small tmpfs, as root).
//! - `disk_reopen`: a broker whose disk filled while serving recovers by itself once space is
//!   freed, with every acknowledged task; worker sessions reconnect (on a small tmpfs, as root).
//! - `reflection`: server reflection lists every service (so grpcurl works).
//! - `stalkd`: the binary's flags, ready line and startup errors.

// Helpers outside #[test] fns are test code too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod admin;
mod auth;
mod bad_input;
mod browser;
mod canvas;
mod canvas_crash;
mod crash;
mod damaged;
mod dashboard;
mod disk_full;
mod disk_reopen;
mod enqueue;
mod events;
mod fixtures;
mod leases;
mod malformed;
mod metadata;
mod metrics;
mod model;
mod priorities;
mod reconnect;
mod recovery;
mod reflection;
mod replace;
mod results;
mod retries;
mod revoke;
mod schedules;
mod session;
mod session_acks;
mod shutdown;
mod stalkd;
mod stops;
mod support;
