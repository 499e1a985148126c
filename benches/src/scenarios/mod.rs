//! One module per scenario. Each runs actors (producers, consumers) against a [`Target`] until
//! the task count or the time limit is reached, and returns a [`RunSummary`].

mod canvas;
pub mod drain;
mod enqueue;
mod fill;
mod latency;
mod rate_limited;
mod roundtrip;
mod scheduled;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stalk_client::Task;

use crate::analytics::{Latencies, RunSummary};
use crate::args::{Cli, Scenario};
use crate::observers::Observers;
use crate::target::Target;

/// How much work is left: actors claim tasks until the count or the time runs out.
#[derive(Debug)]
pub struct Budget {
    total: u64,
    claimed: AtomicU64,
    deadline: Instant,
}

impl Budget {
    fn new(total: u64, max_time: Duration) -> Self {
        Self {
            total,
            claimed: AtomicU64::new(0),
            deadline: Instant::now() + max_time,
        }
    }

    /// Claims up to `n` tasks; 0 when the budget is spent or the time is up.
    fn claim(&self, n: u64) -> u64 {
        if Instant::now() >= self.deadline {
            return 0;
        }
        let start = self.claimed.fetch_add(n, Ordering::Relaxed);
        self.total.saturating_sub(start).min(n)
    }

    fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// `n` no-op tasks with a payload of `bytes` bytes: a JSON string, so JSON handlers accept it.
fn tasks(queue: &str, n: u64, bytes: usize) -> Vec<Task> {
    let payload = format!("\"{}\"", "x".repeat(bytes.saturating_sub(2)));
    (0..n)
        .map(|_| {
            Task::new("bench.noop")
                .queue(queue)
                .payload(payload.clone().into_bytes(), "application/json")
        })
        .collect()
}

/// Runs the chosen scenario.
///
/// # Errors
/// When the broker cannot be started or refuses the load.
pub async fn run(cli: &Cli) -> anyhow::Result<RunSummary> {
    let target = Target::start(&cli.common)?;
    let c = &cli.common;
    let observers = Observers::start(&target, c).await?;
    let (tasks, elapsed, latencies, params) = match &cli.scenario {
        Scenario::Enqueue => {
            let (n, t, l) = enqueue::run(&target, c, 1).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"concurrency": c.concurrency, "batch": 1}),
            )
        }
        Scenario::EnqueueBatch { batch } => {
            let (n, t, l) = enqueue::run(&target, c, *batch).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"concurrency": c.concurrency, "batch": batch}),
            )
        }
        Scenario::Roundtrip { batch, consumers } => {
            let (n, t, l) = roundtrip::run(&target, c, *batch, *consumers).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"producers": c.concurrency, "consumers": consumers, "batch": batch}),
            )
        }
        Scenario::Drain {
            batch,
            pool,
            prefetch,
        } => {
            let (n, t, l) = drain::run(&target, c, *batch, *pool, *prefetch).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"concurrency": c.concurrency, "prefetch": prefetch, "pool": format!("{pool:?}").to_lowercase()}),
            )
        }
        Scenario::Canvas {
            shape,
            workflows,
            size,
        } => {
            let (n, t, l) = canvas::run(&target, c, *shape, *workflows, *size).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"concurrency": c.concurrency, "shape": shape, "workflows": workflows, "size": size}),
            )
        }
        Scenario::Latency { rate } => {
            let (n, t, l) = latency::run(&target, c, *rate).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"rate": rate, "concurrency": c.concurrency, "pool": "async"}),
            )
        }
        Scenario::Scheduled {
            batch,
            window,
            lead,
            worker_concurrency,
        } => {
            let spread = scheduled::Spread {
                lead: *lead,
                window: *window,
            };
            let run = scheduled::run(&target, c, *batch, spread, *worker_concurrency).await?;
            (
                run.tasks,
                run.elapsed,
                run.lateness,
                serde_json::json!({
                    "producers": c.concurrency,
                    "batch": batch,
                    "window_s": window.as_secs_f64(),
                    "lead_s": lead.as_secs_f64(),
                    "worker_concurrency": worker_concurrency,
                    "enqueue_per_s": run.enqueue_per_s,
                    "broker_rss_scheduled_mib": run.rss_scheduled_mib,
                    "started_early": run.early,
                }),
            )
        }
        Scenario::RateLimited {
            limit,
            workers,
            burst,
        } => {
            let run = rate_limited::run(&target, c, limit, *workers, *burst).await?;
            (
                run.tasks,
                run.elapsed,
                // No latency per task: the achieved rate is the result.
                Latencies::default(),
                serde_json::json!({
                    "limit": limit,
                    "workers": workers,
                    "burst": burst,
                    "limit_per_s": run.limit_per_s,
                    "achieved_per_s": run.achieved_per_s,
                    "error_pct": (run.achieved_per_s - run.limit_per_s) / run.limit_per_s * 100.0,
                }),
            )
        }
        Scenario::Fill { batch } => {
            let (n, t, l) = fill::run(&target, c, *batch).await?;
            (
                n,
                t,
                l,
                serde_json::json!({"concurrency": c.concurrency, "batch": batch}),
            )
        }
    };
    let mut params = params;
    params["connections"] = c.connections.into();
    params["payload_bytes"] = c.payload_bytes.into();
    params["durability"] = serde_json::to_value(c.durability)?;
    params["watchers"] = c.watchers.into();
    params["scrape_metrics"] = c.scrape_metrics.into();
    params["events_watched"] = observers.events.load(Ordering::Relaxed).into();
    params["scrapes"] = observers.scrapes.load(Ordering::Relaxed).into();
    drop(observers);
    let (rss, peak) = target.rss_mib();
    let elapsed_s = elapsed.as_secs_f64();
    Ok(RunSummary {
        scenario: cli.scenario.name().into(),
        params,
        tasks,
        elapsed_s,
        tasks_per_s: if elapsed_s > 0.0 {
            tasks as f64 / elapsed_s
        } else {
            0.0
        },
        latency: latencies.summary(),
        broker_rss_mib: rss,
        broker_peak_rss_mib: peak,
    })
}

/// Joins actor tasks and merges their histograms and counts.
async fn join(
    handles: Vec<tokio::task::JoinHandle<anyhow::Result<(u64, Latencies)>>>,
) -> anyhow::Result<(u64, Latencies)> {
    let mut total = 0;
    let mut merged = Latencies::default();
    for handle in handles {
        let (n, latencies) = handle.await??;
        total += n;
        merged.merge(&latencies);
    }
    Ok((total, merged))
}
