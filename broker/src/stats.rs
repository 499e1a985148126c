//! The counters and histograms behind `/metrics` (see `scrape.rs`), kept only while the broker
//! serves metrics (`--metrics-listen`): a broker without them pays nothing.
//!
//! Task counters and the wait and runtime histograms are counted from the events the engine
//! makes ([`BrokerStats::count`], called where events are stored), so they agree with the
//! event stream and the state. Group commit reports each flush ([`BrokerStats::flushed`]).
//!
//! Everything lives in one [`PrometheusRecorder`] of this broker's own, never the global one
//! (a process may run several brokers; tests do). Labels come from queue and task names,
//! which anyone who can enqueue chooses, so they are bounded: the first [`QUEUE_LABEL_CAP`]
//! queues and [`TASK_LABEL_CAP`] task names get a label of their own, and later ones share
//! the label [`OVERFLOW_LABEL`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use parking_lot::Mutex;

use crate::engine::{Event, EventKind, LEASE_EXPIRED, PREFETCH_EXPIRED};

/// Distinct queues with a `queue` label of their own.
pub const QUEUE_LABEL_CAP: usize = 100;
/// Distinct task names with a `task` label of their own.
pub const TASK_LABEL_CAP: usize = 200;
/// The label value of the queues and task names past their cap.
pub const OVERFLOW_LABEL: &str = "_other";

/// Buckets of the wait and runtime histograms, seconds: a millisecond to ten minutes.
const SECONDS_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 600.0,
];
/// Buckets of the flush latency histogram, seconds.
const FLUSH_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Buckets of the group-commit batch size histogram, commands per flush.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

const WAIT: &str = "stalk_task_wait_seconds";
const RUNTIME: &str = "stalk_task_runtime_seconds";
const LEASE_EXPIRIES: &str = "stalk_lease_expiries_total";
const LIMIT_WAITS: &str = "stalk_limit_waits_total";
const QUEUE_THROTTLES: &str = "stalk_queue_throttled_total";
const FLUSH_SECONDS: &str = "stalk_group_commit_flush_seconds";
const FLUSH_BATCH: &str = "stalk_group_commit_batch_commands";

/// The task counters: the event kind each counts, its name and what it means.
const TASK_COUNTERS: [(EventKind, &str, &str); 11] = [
    (
        EventKind::Sent,
        "stalk_tasks_enqueued_total",
        "Tasks created.",
    ),
    (
        EventKind::Started,
        "stalk_tasks_started_total",
        "Attempts started.",
    ),
    (
        EventKind::Succeeded,
        "stalk_tasks_succeeded_total",
        "Attempts that succeeded.",
    ),
    (
        EventKind::Failed,
        "stalk_tasks_failed_total",
        "Tasks that failed for good (they are dead letters).",
    ),
    (
        EventKind::Retried,
        "stalk_tasks_retried_total",
        "Failed attempts retried after a backoff.",
    ),
    (
        EventKind::Replaced,
        "stalk_tasks_replaced_total",
        "Attempts that handed their work on to a replacement (the task ends as it does).",
    ),
    (
        EventKind::Expired,
        "stalk_tasks_expired_total",
        "Tasks whose expiry passed before they started.",
    ),
    (
        EventKind::Revoked,
        "stalk_tasks_revoked_total",
        "Tasks revoked.",
    ),
    (
        EventKind::DeadLettered,
        "stalk_tasks_dead_lettered_total",
        "Tasks that entered the dead letters.",
    ),
    (
        EventKind::Lost,
        "stalk_tasks_lost_total",
        "Started attempts lost: their worker died or their lease ran out.",
    ),
    (
        EventKind::Replayed,
        "stalk_tasks_replayed_total",
        "Dead letters put back to ready.",
    ),
];

/// The counters and histograms of one broker.
#[derive(Debug)]
pub struct BrokerStats {
    recorder: PrometheusRecorder,
    /// Only the engine's command path counts into this, under the engine lock, so the lock is
    /// never contended.
    series: Mutex<Series>,
    flush_seconds: Histogram,
    flush_batch: Histogram,
}

/// The handles of one (queue, task) pair.
#[derive(Debug)]
struct TaskSeries {
    /// In [`TASK_COUNTERS`] order.
    counters: Vec<Counter>,
    wait: Histogram,
    runtime: Histogram,
    /// Prefetch leases and running leases that ran out.
    expiries: [Counter; 2],
    /// Holds by a rate limit, and by a concurrency cap.
    limit_waits: [Counter; 2],
}

#[derive(Debug, Default)]
struct Series {
    queues: LabelCap,
    tasks: LabelCap,
    by_pair: HashMap<(Arc<str>, Arc<str>), TaskSeries>,
    /// Queue-wide rate limit waits, by queue label.
    throttles: HashMap<Arc<str>, Counter>,
}

/// Gives the first `cap` distinct values a label of their own, the rest [`OVERFLOW_LABEL`];
/// remembers at most `cap` values.
#[derive(Debug, Default)]
struct LabelCap {
    seen: HashSet<Arc<str>>,
}

impl LabelCap {
    fn label(&mut self, value: &Arc<str>, cap: usize) -> Arc<str> {
        if let Some(seen) = self.seen.get(value) {
            return seen.clone();
        }
        if self.seen.len() < cap {
            self.seen.insert(value.clone());
            return value.clone();
        }
        Arc::from(OVERFLOW_LABEL)
    }
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

impl BrokerStats {
    /// Empty counters and histograms.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(WAIT.into()), &SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(RUNTIME.into()), &SECONDS_BUCKETS))
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(FLUSH_SECONDS.into()), &FLUSH_BUCKETS)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(FLUSH_BATCH.into()), &BATCH_BUCKETS)
            })
            .expect("invariant: every bucket list is non-empty")
            .build_recorder();
        describe(&recorder);
        let metadata = metadata();
        let flush_seconds = recorder.register_histogram(&Key::from_name(FLUSH_SECONDS), &metadata);
        let flush_batch = recorder.register_histogram(&Key::from_name(FLUSH_BATCH), &metadata);
        Self {
            recorder,
            series: Mutex::new(Series::default()),
            flush_seconds,
            flush_batch,
        }
    }

    /// Counts a command's events.
    pub fn count(&self, events: &[Event]) {
        let mut series = self.series.lock();
        for event in events {
            if let (EventKind::QueueThrottled, Some(queue)) = (event.kind, &event.queue) {
                series.throttled(&self.recorder, queue).increment(1);
                continue;
            }
            let (Some(queue), Some(task)) = (&event.queue, &event.task_name) else {
                continue;
            };
            let one = series.of(&self.recorder, queue, task);
            if let Some(i) = TASK_COUNTERS.iter().position(|(k, ..)| *k == event.kind) {
                if let Some(counter) = one.counters.get(i) {
                    counter.increment(1);
                }
            }
            let seconds = |ms: u64| Duration::from_millis(ms).as_secs_f64();
            match event.kind {
                EventKind::Started => one.wait.record(seconds(event.waited_ms)),
                EventKind::Succeeded
                | EventKind::Failed
                | EventKind::Retried
                | EventKind::Replaced
                    if event.runtime_ms > 0 =>
                {
                    one.runtime.record(seconds(event.runtime_ms));
                }
                EventKind::Ready if event.note.as_deref() == Some(PREFETCH_EXPIRED) => {
                    one.expiries[0].increment(1);
                }
                EventKind::Held => {
                    // The note names the limit: `rate limit …` or `concurrency cap …`.
                    let rate = event.note.as_deref().is_some_and(|n| n.starts_with("rate"));
                    one.limit_waits[usize::from(!rate)].increment(1);
                }
                EventKind::Lost
                    if event
                        .error
                        .as_ref()
                        .is_some_and(|e| e.kind == LEASE_EXPIRED) =>
                {
                    one.expiries[1].increment(1);
                }
                _ => {}
            }
        }
    }

    /// The exposition text of the counters and histograms.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// Moves recorded histogram samples into their buckets; called every few seconds, so a
    /// broker nobody scrapes does not keep every sample.
    pub fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }
}

impl Default for BrokerStats {
    fn default() -> Self {
        Self::new()
    }
}

impl BrokerStats {
    /// Counts a group commit's flush: the durable commands it covered, how long it took.
    pub fn flushed(&self, commands: u64, took: Duration) {
        // Exact below 2^53 commands per flush.
        self.flush_batch.record(commands as f64);
        self.flush_seconds.record(took.as_secs_f64());
    }
}

impl Series {
    fn of(
        &mut self,
        recorder: &PrometheusRecorder,
        queue: &Arc<str>,
        task: &Arc<str>,
    ) -> &TaskSeries {
        let queue = self.queues.label(queue, QUEUE_LABEL_CAP);
        let task = self.tasks.label(task, TASK_LABEL_CAP);
        self.by_pair
            .entry((queue, task))
            .or_insert_with_key(|(queue, task)| TaskSeries::register(recorder, queue, task))
    }

    fn throttled(&mut self, recorder: &PrometheusRecorder, queue: &Arc<str>) -> &Counter {
        let queue = self.queues.label(queue, QUEUE_LABEL_CAP);
        self.throttles.entry(queue).or_insert_with_key(|queue| {
            let labels = vec![Label::new("queue", queue.to_string())];
            recorder.register_counter(&Key::from_parts(QUEUE_THROTTLES, labels), &metadata())
        })
    }
}

impl TaskSeries {
    fn register(recorder: &PrometheusRecorder, queue: &Arc<str>, task: &Arc<str>) -> Self {
        let metadata = metadata();
        let labels = || {
            vec![
                Label::new("queue", queue.to_string()),
                Label::new("task", task.to_string()),
            ]
        };
        let key = |name: &'static str| Key::from_parts(name, labels());
        let labelled = |name: &'static str, label: &'static str, value: &'static str| {
            let mut with = labels();
            with.push(Label::new(label, value));
            recorder.register_counter(&Key::from_parts(name, with), &metadata)
        };
        Self {
            counters: TASK_COUNTERS
                .iter()
                .map(|(_, name, _)| recorder.register_counter(&key(name), &metadata))
                .collect(),
            wait: recorder.register_histogram(&key(WAIT), &metadata),
            runtime: recorder.register_histogram(&key(RUNTIME), &metadata),
            expiries: [
                labelled(LEASE_EXPIRIES, "lease", "prefetch"),
                labelled(LEASE_EXPIRIES, "lease", "running"),
            ],
            limit_waits: [
                labelled(LIMIT_WAITS, "limit", "rate"),
                labelled(LIMIT_WAITS, "limit", "concurrency"),
            ],
        }
    }
}

fn describe(recorder: &PrometheusRecorder) {
    for (_, name, help) in TASK_COUNTERS {
        recorder.describe_counter(name.into(), None, help.into());
    }
    recorder.describe_counter(
        LEASE_EXPIRIES.into(),
        None,
        "Leases that ran out: `prefetch` (the task waited in a worker's buffer and is ready \
         again) or `running` (the attempt is lost)."
            .into(),
    );
    recorder.describe_counter(
        LIMIT_WAITS.into(),
        None,
        "READY tasks held back at a lease attempt by a `rate` limit or a `concurrency` cap \
         (once per hold)."
            .into(),
    );
    recorder.describe_counter(
        QUEUE_THROTTLES.into(),
        None,
        "Times a queue's own rate limit had no token for a lease attempt (the queue waits).".into(),
    );
    recorder.describe_histogram(
        WAIT.into(),
        Some(metrics::Unit::Seconds),
        "How long a task waited from becoming ready (its enqueue, ETA or retry time) until an \
         attempt started."
            .into(),
    );
    recorder.describe_histogram(
        RUNTIME.into(),
        Some(metrics::Unit::Seconds),
        "How long attempts ran until they succeeded, failed, were retried or handed their work on."
            .into(),
    );
    recorder.describe_histogram(
        FLUSH_SECONDS.into(),
        Some(metrics::Unit::Seconds),
        "How long a group commit's flush took.".into(),
    );
    recorder.describe_histogram(
        FLUSH_BATCH.into(),
        None,
        "Durable commands one group commit covered.".into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_past_the_cap_share_the_overflow_label_and_are_not_remembered() {
        let mut cap = LabelCap::default();
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        assert_eq!(&*cap.label(&a, 1), "a");
        assert_eq!(&*cap.label(&b, 1), OVERFLOW_LABEL);
        assert_eq!(&*cap.label(&a, 1), "a");
        assert_eq!(cap.seen.len(), 1);
    }
}
