//! Integration tests of the client SDK and the `stalk` command-line tool, against a real broker:
//! `stalk_testkit::TestBroker` runs one in this process on `127.0.0.1:0` with a temp data dir.
//! The broker's own behaviour is tested in broker/tests/it (through this client); these tests pin
//! what the client adds on top: the auth header, the long-poll loop, the conversions between wire
//! messages and Rust types, and everything the CLI prints and exits with.
//!
//! One binary, one module per behaviour:
//! - `connect`: an unreachable broker, and a client that outlives a broker restart.
//! - `auth`: the bearer token reaches every call of both services.
//! - `waiting`: `result` / `wait_for`: waits longer than one poll, timeouts, unknown ids.
//! - `conversions`: every field the broker sends arrives in the client's types.
//! - `large`: messages over tonic's 4 MiB default (big leases) arrive whole.
//! - `cli`: the real `stalk` binary: output, JSON output, exit codes, error lines.
//! - `support`: short client calls and the `stalk` runner.

// Helpers outside #[test] fns are test code too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod auth;
mod cli;
mod connect;
mod conversions;
mod large;
mod support;
mod waiting;
