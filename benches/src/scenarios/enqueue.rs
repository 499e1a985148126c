//! enqueue / enqueue-batch: `concurrency` callers enqueue `batch` tasks per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{join, tasks, Budget};
use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

/// Returns (tasks enqueued, elapsed, call latencies).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    batch: usize,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let clients = target.clients(c.connections).await?;
    let budget = Arc::new(Budget::new(c.tasks, c.max_time));
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..c.concurrency {
        let client = clients[i % clients.len()].clone();
        let budget = budget.clone();
        let bytes = c.payload_bytes;
        handles.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut done = 0;
            loop {
                let n = budget.claim(batch as u64);
                if n == 0 {
                    return Ok((done, latencies));
                }
                let call = tasks("bench", n, bytes);
                let t0 = Instant::now();
                let outcomes = client.enqueue_many(call).await?;
                latencies.record(t0.elapsed());
                if let Some(Err(err)) = outcomes.iter().find(|o| o.is_err()) {
                    bail!("a task was refused: {err}");
                }
                done += n;
            }
        }));
    }
    let (done, latencies) = join(handles).await?;
    Ok((done, started.elapsed(), latencies))
}
