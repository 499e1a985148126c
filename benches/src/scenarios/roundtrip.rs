//! roundtrip: producers enqueue in batches while consumers lease and ack in batches (no-op
//! work). Counts tasks completed (acked); latency is one consumer cycle (lease + AckMany).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stalk_client::{AckOutcome, LeaseOptions};

use super::{join, tasks, Budget};
use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

/// Returns (tasks completed, elapsed, consumer cycle latencies).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    batch: usize,
    consumers: usize,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let clients = target.clients(c.connections).await?;
    let budget = Arc::new(Budget::new(c.tasks, c.max_time));
    let enqueued = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let producing = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let mut producers = Vec::new();
    for i in 0..c.concurrency {
        let (client, budget, enqueued) = (
            clients[i % clients.len()].clone(),
            budget.clone(),
            enqueued.clone(),
        );
        let bytes = c.payload_bytes;
        producers.push(tokio::spawn(async move {
            loop {
                let n = budget.claim(batch as u64);
                if n == 0 {
                    return Ok::<_, anyhow::Error>((0, Latencies::default()));
                }
                client.enqueue_many(tasks("rt", n, bytes)).await?;
                enqueued.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }
    let mut workers = Vec::new();
    for i in 0..consumers {
        let client = clients[(i + c.concurrency) % clients.len()].clone();
        let (budget, enqueued, completed, producing) = (
            budget.clone(),
            enqueued.clone(),
            completed.clone(),
            producing.clone(),
        );
        let max_tasks = u32::try_from(batch).unwrap_or(1000);
        workers.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut done = 0;
            loop {
                let t0 = Instant::now();
                let leased = client
                    .lease(LeaseOptions {
                        max_tasks,
                        wait: Duration::from_millis(50),
                        ..LeaseOptions::new(["rt"])
                    })
                    .await?;
                if leased.is_empty() {
                    let drained =
                        completed.load(Ordering::Relaxed) >= enqueued.load(Ordering::Relaxed);
                    if (!producing.load(Ordering::Relaxed) && drained) || budget.expired() {
                        return Ok((done, latencies));
                    }
                    continue;
                }
                let acks = leased.iter().map(|t| {
                    (
                        t,
                        AckOutcome::Success {
                            value: Default::default(),
                            content_type: String::new(),
                        },
                    )
                });
                let results = client.ack_many(acks).await?;
                latencies.record(t0.elapsed());
                let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
                done += ok;
                completed.fetch_add(ok, Ordering::Relaxed);
            }
        }));
    }
    join(producers).await?;
    producing.store(false, Ordering::Relaxed);
    let (done, latencies) = join(workers).await?;
    Ok((done, started.elapsed(), latencies))
}
