//! rate-limited: a queue limited to `--limit` (e.g. `1000/s`) holds `--tasks` no-op tasks;
//! `--workers` stalk-workers drain it together. Reports the achieved start rate after the
//! burst, and its error against the limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use parking_lot::Mutex;
use stalk_client::Limit;
use stalk_worker::{TaskError, Worker};
use tokio::sync::Notify;

use super::tasks;
use crate::args::Common;
use crate::target::Target;

/// What the run measured.
pub(super) struct Limited {
    pub(super) tasks: u64,
    pub(super) elapsed: Duration,
    pub(super) achieved_per_s: f64,
    pub(super) limit_per_s: f64,
}

/// Runs the scenario.
pub(super) async fn run(
    target: &Target,
    c: &Common,
    limit: &str,
    workers: usize,
    burst: u32,
) -> anyhow::Result<Limited> {
    let client = target.clients(1).await?.remove(0);
    let limits = client
        .set_limit(&Limit::queue("limited").rate(limit).burst(burst))
        .await?;
    let Some(rate) = limits.first().and_then(|l| l.rate.clone()) else {
        bail!("the broker did not keep the limit");
    };
    let (count, unit) = rate.split_once('/').unwrap_or(("0", "s"));
    let per_s = match unit {
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => 1.0,
    };
    let limit_per_s = count.parse::<f64>().unwrap_or(0.0) / per_s;
    for chunk in tasks("limited", c.tasks, c.payload_bytes).chunks(1000) {
        client.enqueue_many(chunk.to_vec()).await?;
    }
    let starts = Arc::new(Mutex::new(Vec::with_capacity(
        usize::try_from(c.tasks).unwrap_or(0),
    )));
    let all = Arc::new(Notify::new());
    let stop = Arc::new(Notify::new());
    let mut running = Vec::new();
    for i in 0..workers {
        let (starts, all, total) = (starts.clone(), all.clone(), c.tasks);
        let worker = Worker::builder(target.url.clone())
            .worker_id(format!("loadgen-{i}"))
            .queues(["limited"])
            .concurrency(8)
            .task("bench.noop", move |_: serde_json::Value| {
                let (starts, all) = (starts.clone(), all.clone());
                async move {
                    let mut starts = starts.lock();
                    starts.push(Instant::now());
                    if starts.len() as u64 >= total {
                        all.notify_one();
                    }
                    Ok::<_, TaskError>(())
                }
            })
            .connect()
            .await?;
        let stopped = stop.clone();
        running.push(tokio::spawn(
            worker.run(async move { stopped.notified().await }),
        ));
    }
    let started = Instant::now();
    let patience = c.max_time + Duration::from_secs_f64(c.tasks as f64 / limit_per_s.max(1e-9));
    let finished = tokio::time::timeout(patience, all.notified()).await.is_ok();
    let elapsed = started.elapsed();
    stop.notify_waiters();
    for worker in running {
        worker.await??;
    }
    let mut starts = starts.lock().clone();
    if !finished || starts.len() < 2 {
        bail!(
            "{} of {} tasks started within {patience:?}",
            starts.len(),
            c.tasks
        );
    }
    starts.sort();
    // The burst starts at once; the rate is what follows it.
    let steady = &starts[usize::try_from(burst).unwrap_or(0).min(starts.len() - 2)..];
    let span = steady[steady.len() - 1] - steady[0];
    let achieved_per_s = (steady.len() - 1) as f64 / span.as_secs_f64().max(1e-9);
    Ok(Limited {
        tasks: starts.len() as u64,
        elapsed,
        achieved_per_s,
        limit_per_s,
    })
}
