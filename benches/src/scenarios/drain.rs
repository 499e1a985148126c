//! drain: fill the broker with no-op tasks, then time one stalk-worker (async handlers,
//! `concurrency` slots, streaming session) draining them. Latency is not measured per task here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use stalk_worker::{TaskError, Worker};
use tokio::sync::Notify;

use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

/// Returns (tasks drained, elapsed of the drain, an empty histogram).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    batch: usize,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let (filled, _, _) = super::enqueue::run(target, c, batch).await?;
    let done = Arc::new(AtomicU64::new(0));
    let all_done = Arc::new(Notify::new());
    let (counter, notify) = (done.clone(), all_done.clone());
    let worker = Worker::builder(target.url.clone())
        .queues(["bench"])
        .concurrency(u32::try_from(c.concurrency).unwrap_or(u32::MAX))
        .task("bench.noop", move |_: serde_json::Value| {
            let (counter, notify) = (counter.clone(), notify.clone());
            async move {
                if counter.fetch_add(1, Ordering::Relaxed) + 1 >= filled {
                    notify.notify_one();
                }
                Ok::<_, TaskError>(())
            }
        })
        .connect()
        .await?;
    let started = Instant::now();
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    let running = tokio::spawn(worker.run(async move { stopped.notified().await }));
    let finished = tokio::time::timeout(c.max_time, all_done.notified())
        .await
        .is_ok();
    let elapsed = started.elapsed();
    stop.notify_one();
    running.await??;
    if !finished {
        bail!(
            "drained {} of {filled} tasks within {:?}",
            done.load(Ordering::Relaxed),
            c.max_time
        );
    }
    Ok((filled, elapsed, Latencies::default()))
}
