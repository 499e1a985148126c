//! fill: enqueue `tasks` ready tasks in batches, wait until the broker counts them all, and
//! report its memory.

use std::time::Duration;

use anyhow::bail;

use crate::analytics::Latencies;
use crate::args::Common;
use crate::target::Target;

/// Returns (tasks enqueued, elapsed of the enqueue phase, call latencies).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    batch: usize,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let (done, elapsed, latencies) = super::enqueue::run(target, c, batch).await?;
    let client = target.clients(1).await?.remove(0);
    let stats = client.queue_stats(&["bench"]).await?;
    let ready = stats.first().map_or(0, |s| s.ready);
    if ready != done {
        bail!("the broker counts {ready} ready tasks after {done} were enqueued");
    }
    Ok((done, elapsed, latencies))
}
