//! canvas: workflows drained by one stalk-worker. `--shape chord` submits `--workflows` chords of
//! `--size` no-op members and a body each; `--shape chain` submits chains of `--size` steps.
//! Everything is submitted first, then one worker of `--concurrency` slots runs it all; the
//! figure is members (or steps) per second, and for chords the latency is from the end of a
//! chord's last member to the start of its body (the last member's ack, the release in the
//! broker, the push and the start), measured in this process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use parking_lot::Mutex;
use serde_json::{json, Value};
use stalk_client::{chain, chord, Canvas, Task};
use stalk_worker::{TaskError, Worker};
use tokio::sync::Notify;

use crate::analytics::Latencies;
use crate::args::{CanvasShape, Common};
use crate::target::Target;

const QUEUE: &str = "canvas";

/// What the handlers record.
#[derive(Default)]
struct Probe {
    /// Per chord, when its last member so far finished.
    last_member: HashMap<u64, Instant>,
    /// Last member end to body start, per chord.
    latencies: Latencies,
    /// Workflows whose last task ran.
    finished: usize,
}

fn task(name: &str, args: &Value) -> anyhow::Result<Task> {
    Ok(Task::new(name).queue(QUEUE).json(args)?)
}

/// The workflows: member `i` of chord `w` gets `[w]` and returns `w`, so the body knows its
/// chord; a chain's steps are no-ops, and its last one says the chain is done.
fn workflows(shape: CanvasShape, count: usize, size: usize) -> anyhow::Result<Vec<Canvas>> {
    (0..count)
        .map(|w| {
            Ok(match shape {
                CanvasShape::Chord => {
                    let members = (0..size)
                        .map(|_| task("bench.member", &json!([w])))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    chord(members, Task::new("bench.body").queue(QUEUE))
                }
                CanvasShape::Chain => {
                    let mut steps = vec![Canvas::immutable(task("bench.step", &json!([false]))?)];
                    for i in 1..size {
                        let last = i + 1 == size;
                        steps.push(Canvas::immutable(task("bench.step", &json!([last]))?));
                    }
                    chain(steps)
                }
            })
        })
        .collect()
}

/// Returns (members or steps run, elapsed, last-member-to-body latencies).
pub(super) async fn run(
    target: &Target,
    c: &Common,
    shape: CanvasShape,
    count: usize,
    size: usize,
) -> anyhow::Result<(u64, Duration, Latencies)> {
    let client = target.clients(1).await?.remove(0);
    for canvas in workflows(shape, count, size)? {
        client
            .enqueue_workflow(canvas)
            .await
            .context("submit a workflow")?;
    }
    let probe = Arc::new(Mutex::new(Probe::default()));
    let done = Arc::new(Notify::new());
    let (member_probe, body_probe, step_probe) = (probe.clone(), probe.clone(), probe.clone());
    let (body_done, step_done) = (done.clone(), done.clone());
    let worker = Worker::builder(target.url.clone())
        .queues([QUEUE])
        .concurrency(u32::try_from(c.concurrency).unwrap_or(u32::MAX))
        .task("bench.member", move |args: Vec<u64>| {
            let probe = member_probe.clone();
            async move {
                let chord = args.first().copied().unwrap_or_default();
                probe.lock().last_member.insert(chord, Instant::now());
                Ok::<_, TaskError>(chord)
            }
        })
        .task("bench.body", move |args: Vec<Vec<u64>>| {
            let (probe, done) = (body_probe.clone(), body_done.clone());
            async move {
                let started = Instant::now();
                let chord = args
                    .first()
                    .and_then(|r| r.first())
                    .copied()
                    .unwrap_or_default();
                let mut probe = probe.lock();
                if let Some(last) = probe.last_member.get(&chord).copied() {
                    probe
                        .latencies
                        .record(started.saturating_duration_since(last));
                }
                probe.finished += 1;
                done.notify_one();
                Ok::<_, TaskError>(())
            }
        })
        .task("bench.step", move |args: Vec<bool>| {
            let (probe, done) = (step_probe.clone(), step_done.clone());
            async move {
                if args.first().copied().unwrap_or(false) {
                    probe.lock().finished += 1;
                    done.notify_one();
                }
                Ok::<_, TaskError>(())
            }
        })
        .connect()
        .await?;
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    let started = Instant::now();
    let running = tokio::spawn(worker.run(async move { stopped.notified().await }));
    let deadline = started + c.max_time;
    while probe.lock().finished < count {
        if tokio::time::timeout_at(deadline.into(), done.notified())
            .await
            .is_err()
        {
            break;
        }
    }
    let elapsed = started.elapsed();
    stop.notify_one();
    running.await??;
    let probe = std::mem::take(&mut *probe.lock());
    if probe.finished < count {
        bail!(
            "{} of {count} workflows finished after {:?}",
            probe.finished,
            c.max_time
        );
    }
    let work = u64::try_from(count * size).unwrap_or(u64::MAX);
    Ok((work, elapsed, probe.latencies))
}
