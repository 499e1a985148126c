//! drain: fill the broker with no-op tasks, then time one stalk-worker (`concurrency` slots,
//! streaming session, the chosen pool) draining them. Latency is not measured per task here.
//!
//! The drain is over when the queue has nothing ready or leased left, as the broker reports it
//! (polled every 5 ms): the handlers of a prefork pool run in child processes, where no counter
//! of this process can see them.

use std::time::{Duration, Instant};

use anyhow::bail;
use stalk_worker::{PoolKind, TaskError, Worker, WorkerBuilder};
use tokio::sync::Notify;

use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

/// How often the broker is asked whether the queue is drained.
const POLL: Duration = Duration::from_millis(5);

/// The drain's worker: one no-op task type on queue `bench`.
fn worker(url: String) -> WorkerBuilder {
    Worker::builder(url)
        .queues(["bench"])
        .task("bench.noop", |_: serde_json::Value| async move {
            Ok::<_, TaskError>(())
        })
}

/// Serves as a prefork child of the drain's worker (this binary, run again by the pool).
///
/// # Errors
/// When the parent's socket fails.
pub async fn child() -> anyhow::Result<()> {
    let child = worker(String::new()).connect().await?;
    child.run(std::future::pending()).await?;
    Ok(())
}

/// Returns (tasks drained, elapsed of the drain, an empty histogram).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    batch: usize,
    pool: PoolKind,
    prefetch: Option<u32>,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let (filled, _, _) = super::enqueue::run(target, c, batch).await?;
    let client = target.clients(1).await?.remove(0);
    let mut worker = worker(target.url.clone())
        .pool(pool)
        .concurrency(u32::try_from(c.concurrency).unwrap_or(u32::MAX));
    if let Some(prefetch) = prefetch {
        worker = worker.prefetch(prefetch);
    }
    let worker = worker.connect().await?;
    let stop = std::sync::Arc::new(Notify::new());
    let stopped = stop.clone();
    let started = Instant::now();
    let running = tokio::spawn(worker.run(async move { stopped.notified().await }));
    let deadline = started + c.max_time;
    let left = loop {
        let stats = client.queue_stats(&["bench"]).await?;
        let left: u64 = stats.iter().map(|q| q.ready + q.leased).sum();
        if left == 0 || Instant::now() >= deadline {
            break left;
        }
        tokio::time::sleep(POLL).await;
    };
    let elapsed = started.elapsed();
    stop.notify_one();
    running.await??;
    if left > 0 {
        bail!("{left} of {filled} tasks were left after {:?}", c.max_time);
    }
    Ok((filled, elapsed, Latencies::default()))
}
