//! scheduled: enqueue `--tasks` tasks, each due at a random time within `--window` of its
//! enqueue, while one stalk-worker runs them as they come due. Reports the enqueue rate, the
//! broker's memory once everything is scheduled, and lateness (start minus due time) per task.
//! Producer and worker share this process's clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use parking_lot::Mutex;
use stalk_client::Task;
use stalk_worker::{TaskError, Worker};
use tokio::sync::Notify;

use super::{join, Budget};
use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// SplitMix64: a fast, fixed-seed spread of due times (reproducible runs).
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// When tasks are due: `lead` + a random part of `window` after their enqueue.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spread {
    pub(super) lead: Duration,
    pub(super) window: Duration,
}

/// What the run measured besides lateness.
pub(super) struct Scheduled {
    pub(super) tasks: u64,
    pub(super) elapsed: Duration,
    pub(super) lateness: Latencies,
    pub(super) enqueue_per_s: f64,
    pub(super) rss_scheduled_mib: Option<f64>,
    pub(super) early: u64,
}

/// Runs the scenario.
pub(super) async fn run(
    target: &Target,
    c: &Common,
    batch: usize,
    spread: Spread,
    worker_concurrency: u32,
) -> anyhow::Result<Scheduled> {
    let lateness = Arc::new(Mutex::new(Latencies::default()));
    let seen = Arc::new(AtomicU64::new(0));
    let early = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Notify::new());
    let total = c.tasks;
    let (record, counter, too_soon, notify) =
        (lateness.clone(), seen.clone(), early.clone(), all.clone());
    let worker = Worker::builder(target.url.clone())
        .queues(["scheduled"])
        .concurrency(worker_concurrency)
        .task("bench.due", move |(due_ms, _pad): (u64, String)| {
            let (record, counter, too_soon, notify) = (
                record.clone(),
                counter.clone(),
                too_soon.clone(),
                notify.clone(),
            );
            async move {
                let now = now_us();
                let due = due_ms.saturating_mul(1000);
                if now < due {
                    too_soon.fetch_add(1, Ordering::Relaxed);
                }
                record
                    .lock()
                    .record(Duration::from_micros(now.saturating_sub(due)));
                if counter.fetch_add(1, Ordering::Relaxed) + 1 >= total {
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

    let clients = target.clients(c.connections).await?;
    let budget = Arc::new(Budget::new(total, c.max_time));
    let window_ms = u64::try_from(spread.window.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let lead_ms = u64::try_from(spread.lead.as_millis()).unwrap_or(u64::MAX);
    let pad = "x".repeat(c.payload_bytes.saturating_sub(24));
    let started = Instant::now();
    let mut producers = Vec::new();
    for i in 0..c.concurrency {
        let (client, budget, pad) = (
            clients[i % clients.len()].clone(),
            budget.clone(),
            pad.clone(),
        );
        producers.push(tokio::spawn(async move {
            let mut seed = i as u64 + 1;
            let mut done = 0;
            loop {
                let n = budget.claim(batch as u64);
                if n == 0 {
                    return Ok((done, Latencies::default()));
                }
                let now_ms = now_us() / 1000;
                let tasks = (0..n)
                    .map(|_| {
                        let due_ms = now_ms + lead_ms + next_random(&mut seed) % window_ms;
                        let at = UNIX_EPOCH + Duration::from_millis(due_ms);
                        Task::new("bench.due")
                            .queue("scheduled")
                            .eta(at)
                            .json(&(due_ms, &pad))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let outcomes = client.enqueue_many(tasks).await?;
                if let Some(Err(err)) = outcomes.iter().find(|o| o.is_err()) {
                    bail!("a task was refused: {err}");
                }
                done += n;
            }
        }));
    }
    let (enqueued, _) = join(producers).await?;
    let enqueue_elapsed = started.elapsed();
    let (rss_scheduled_mib, _) = target.rss_mib();
    let patience = c.max_time + spread.lead + spread.window;
    let finished = tokio::time::timeout(patience, all.notified()).await.is_ok();
    let elapsed = started.elapsed();
    stop.notify_one();
    running.await??;
    if !finished {
        bail!(
            "{} of {enqueued} tasks ran within {:?}",
            seen.load(Ordering::Relaxed),
            patience
        );
    }
    let lateness = lateness.lock().clone();
    Ok(Scheduled {
        tasks: enqueued,
        elapsed,
        lateness,
        enqueue_per_s: enqueued as f64 / enqueue_elapsed.as_secs_f64().max(1e-9),
        rss_scheduled_mib,
        early: early.load(Ordering::Relaxed),
    })
}
