//! latency: one producer sends a task per call at a fixed rate; one stalk-worker runs them. Each
//! payload carries its send time, and the handler records send→start (durable enqueue, push,
//! start) in microseconds. Producer and worker share this process's clock.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use parking_lot::Mutex;
use stalk_client::Task;
use stalk_worker::{TaskError, Worker};
use tokio::sync::Notify;

use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Returns (tasks, elapsed, send→start latencies).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    rate: u32,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let seen = Arc::new(Mutex::new(0u64));
    let all = Arc::new(Notify::new());
    let total = c.tasks;
    let (record, counter, notify) = (latencies.clone(), seen.clone(), all.clone());
    let worker = Worker::builder(target.url.clone())
        .queues(["latency"])
        .concurrency(u32::try_from(c.concurrency).unwrap_or(u32::MAX))
        .task("bench.timed", move |sent: String| {
            let (record, counter, notify) = (record.clone(), counter.clone(), notify.clone());
            async move {
                let sent: u128 = sent.parse().unwrap_or(0);
                let waited = now_nanos().saturating_sub(sent);
                record.lock().record(Duration::from_nanos(
                    u64::try_from(waited).unwrap_or(u64::MAX),
                ));
                let mut seen = counter.lock();
                *seen += 1;
                if *seen >= total {
                    notify.notify_one();
                }
                Ok::<_, TaskError>(())
            }
        })
        .connect()
        .await?;
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    let running = tokio::spawn(worker.run(async move { stopped.notified().await }));
    let client = target.clients(1).await?.remove(0);
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..total {
        ticks.tick().await;
        if started.elapsed() > c.max_time {
            break;
        }
        let task = Task::new("bench.timed")
            .queue("latency")
            .json(&now_nanos().to_string())?;
        client.enqueue(task).await?;
    }
    let finished = tokio::time::timeout(c.max_time, all.notified())
        .await
        .is_ok();
    let elapsed = started.elapsed();
    stop.notify_one();
    running.await??;
    if !finished {
        bail!(
            "{} of {total} tasks started within {:?}",
            seen.lock(),
            c.max_time
        );
    }
    let latencies = latencies.lock().clone();
    Ok((total, elapsed, latencies))
}
