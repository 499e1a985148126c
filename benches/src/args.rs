//! Flags and defaults of every scenario, in one file.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use stalk_worker::PoolKind;

/// End-to-end load generator for stalk (loopback only; bounded by count and time).
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub scenario: Scenario,
    /// Settings shared by every scenario.
    #[command(flatten)]
    pub common: Common,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// One task per Enqueue call, `--concurrency` callers.
    Enqueue,
    /// `--batch` tasks per Enqueue call, `--concurrency` callers.
    EnqueueBatch {
        /// Tasks per call.
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Producers enqueue in batches while `--consumers` lease and ack in batches (no-op work).
    Roundtrip {
        /// Tasks per Enqueue call and most tasks per Lease / AckMany call.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Consumers leasing and acking.
        #[arg(long, default_value_t = 4)]
        consumers: usize,
    },
    /// Enqueues `--tasks` no-op tasks, then drains them with one stalk-worker of
    /// `--concurrency` slots over a streaming session; times the drain.
    Drain {
        /// Tasks per Enqueue call while filling.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// The worker's pool; prefork children are this binary run again.
        #[arg(long, value_enum, default_value_t = PoolKind::Async)]
        pool: PoolKind,
        /// Tasks the broker may push to the worker beyond its free slots; default the
        /// worker's (3 × the concurrency).
        #[arg(long)]
        prefetch: Option<u32>,
    },
    /// Submits `--workflows` chords of `--size` no-op members (or chains of `--size` steps),
    /// then drains them with one stalk-worker of `--concurrency` slots; reports members (or
    /// steps) per second and, for chords, last member end → body start as the latency.
    Canvas {
        /// Chords or chains.
        #[arg(long, value_enum, default_value_t = CanvasShape::Chord)]
        shape: CanvasShape,
        /// Workflows submitted.
        #[arg(long, default_value_t = 20)]
        workflows: usize,
        /// Members per chord, or steps per chain.
        #[arg(long, default_value_t = 1000)]
        size: usize,
    },
    /// Sends tasks one per call at a fixed `--rate` to one stalk-worker; measures send→start
    /// latency (the producer's send time to the handler's start, durable enqueue included).
    Latency {
        /// Tasks per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
    },
    /// Enqueues `--tasks` tasks due at random times within `--window` of their enqueue while
    /// one stalk-worker runs them when due; reports the enqueue rate, the broker's RSS with
    /// everything scheduled, and lateness (start − due) as the latency.
    Scheduled {
        /// Tasks per Enqueue call.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Due times spread over this long after each enqueue (plus `--lead`).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        window: Duration,
        /// No task is due sooner than this after its enqueue: with a lead longer than the
        /// enqueue phase, the broker's RSS is measured with every task scheduled.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        lead: Duration,
        /// The worker's concurrency (its credits are 4 times this). Due tasks arrive in bursts
        /// while producers saturate the broker, so more tasks per push keeps them on time.
        #[arg(long, default_value_t = 64)]
        worker_concurrency: u32,
    },
    /// Limits a queue to `--limit` (with `--burst`), fills it with `--tasks` tasks and drains it with
    /// `--workers` stalk-workers at once; reports the achieved start rate and its error.
    RateLimited {
        /// The queue's limit, e.g. `1000/s`.
        #[arg(long, default_value = "1000/s")]
        limit: String,
        /// Workers draining the queue together.
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// The limit's burst: tokens that may gather while the workers are busy. The first
        /// `burst` starts are left out of the achieved rate.
        #[arg(long, default_value_t = 10)]
        burst: u32,
    },
    /// Fills the broker with `--tasks` ready tasks, then reports its RSS.
    Fill {
        /// Tasks per Enqueue call.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

impl Scenario {
    /// The scenario's name as typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Enqueue => "enqueue",
            Self::EnqueueBatch { .. } => "enqueue-batch",
            Self::Roundtrip { .. } => "roundtrip",
            Self::Fill { .. } => "fill",
            Self::Drain { .. } => "drain",
            Self::Canvas { .. } => "canvas",
            Self::Latency { .. } => "latency",
            Self::Scheduled { .. } => "scheduled",
            Self::RateLimited { .. } => "rate-limited",
        }
    }
}

/// The workflows of the `canvas` scenario.
#[derive(Debug, Clone, Copy, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CanvasShape {
    /// Chords: members at once, then a body with their results.
    Chord,
    /// Chains: one step after another.
    Chain,
}

/// Durability of a spawned broker.
#[derive(Debug, Clone, Copy, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Acknowledge after the flush (the default).
    Sync,
    /// Acknowledge at once.
    Fast,
}

/// Settings shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Stop after this many tasks.
    #[arg(long, default_value_t = 200_000, global = true)]
    pub tasks: u64,
    /// Stop after this long, whatever the count.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub max_time: Duration,
    /// Concurrent callers (producers in roundtrip).
    #[arg(long, default_value_t = 4, global = true)]
    pub concurrency: usize,
    /// gRPC connections the callers share, round robin.
    #[arg(long, default_value_t = 4, global = true)]
    pub connections: usize,
    /// Payload bytes per task.
    #[arg(long, default_value_t = 200, global = true)]
    pub payload_bytes: usize,
    /// Load a running broker at this address instead of spawning `stalkd`.
    #[arg(long, global = true)]
    pub addr: Option<String>,
    /// The `stalkd` binary to spawn; default: next to this executable.
    #[arg(long, global = true)]
    pub stalkd: Option<PathBuf>,
    /// Durability mode of the spawned broker.
    #[arg(long, value_enum, default_value_t = Durability::Sync, global = true)]
    pub durability: Durability,
    /// Event watchers to attach for the run (each follows the whole stream, in this process).
    #[arg(long, default_value_t = 0, global = true)]
    pub watchers: usize,
    /// Serve the spawned broker's metrics and scrape `/metrics` every second during the run.
    #[arg(long, global = true)]
    pub scrape_metrics: bool,
    /// Also write the summary (with a machine line) to this file; `auto` picks
    /// `benches/results/<date>-<scenario>.json`.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
}
