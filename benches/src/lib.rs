//! stalk-benches: the `loadgen` end-to-end load generator (the criterion micro-benchmarks live in
//! `benches/`).
//!
//! It is not a test: it prints figures and asserts nothing about speed. Runs are bounded by both
//! a task count and a time limit, and use loopback only.
//!
//! # Layout
//! - [`args`]: every flag and default, in one place.
//! - [`target`]: the broker under load: a `stalkd` child process (temp data dir) or `--addr`.
//! - [`scenarios`]: one module per scenario (enqueue, enqueue-batch, roundtrip, fill).
//! - [`observers`]: event watchers and a `/metrics` scraper attached during a run.
//! - [`analytics`]: latency histograms and the per-run summary.
//! - [`report`]: the JSON summary line, the human table, and `--out` files with a machine line.

pub mod analytics;
pub mod args;
pub mod observers;
pub mod report;
pub mod scenarios;
pub mod target;
