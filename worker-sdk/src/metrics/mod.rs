//! The worker's Prometheus metrics: their names, what is counted, and the recorder that holds
//! them. Served on `/metrics` of the address given by `--metrics-listen` (see `http`).
//!
//! Each worker owns one [`PrometheusRecorder`], never installed as the global recorder: a
//! process may run several workers (tests do), and each must show its own counts. Series carry
//! no `worker` label: every worker has its own endpoint, and Prometheus labels what it scrapes
//! with the target's `instance`; `stalk_worker_info` carries the worker id for joins.
//!
//! The `task` label comes from task names, which anyone who can enqueue chooses (a name no
//! handler knows is still counted, as `rejected`). So it is bounded: the first
//! [`TASK_LABEL_CAP`] distinct names get a label of their own, the worker's registered names
//! first, and later ones share `task="_other"` (see `tasks`).

mod http;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use parking_lot::Mutex;

pub(crate) use http::{bind, MetricsServer};
use tasks::TaskSeries;
pub(crate) use tasks::TASK_LABEL_CAP;

/// Slots: tasks the worker runs at once (its concurrency).
pub(crate) const SLOTS: &str = "stalk_worker_slots";
/// Slots running an attempt now.
pub(crate) const BUSY_SLOTS: &str = "stalk_worker_busy_slots";
/// Tasks pushed by the broker that wait here for a slot.
pub(crate) const PREFETCHED: &str = "stalk_worker_prefetched";
/// Tasks done with, by `task` and `outcome` (see [`Outcome`]).
pub(crate) const TASKS: &str = "stalk_worker_tasks_total";
/// How long attempts ran, by `task`.
pub(crate) const TASK_RUNTIME: &str = "stalk_worker_task_runtime_seconds";
/// Prefork children replaced, by `reason` (see [`RecycleReason`]).
pub(crate) const CHILD_RECYCLES: &str = "stalk_worker_child_recycles_total";
/// Sessions opened again after one broke.
pub(crate) const RECONNECTS: &str = "stalk_worker_reconnects_total";
/// Always 1; its labels say which worker this is (`worker_id`, `pool`, `sdk`).
pub(crate) const INFO: &str = "stalk_worker_info";

/// Upper bounds of the runtime histogram's buckets, in seconds: from a millisecond (a task that
/// only hands work on) to five minutes; longer attempts land in `+Inf`, and the histogram's
/// `_sum` still counts their time.
pub(crate) const RUNTIME_BUCKETS: [f64; 15] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// How a task ended for this worker: the `outcome` label of `stalk_worker_tasks_total`.
///
/// The first four are counted when the broker accepts the attempt's ack, as the worker's log
/// line for the task is written then: they agree with what the broker recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The attempt succeeded.
    Succeeded,
    /// The attempt failed with retries left: the task runs again. A hard time limit is a
    /// retryable failure, so it counts here or under `failed`.
    Retried,
    /// The attempt failed and the task is done: fatal, or no retries left (a dead letter).
    Failed,
    /// The attempt was lost: its prefork child died or was killed past its hard memory limit.
    Lost,
    /// The broker refused the ack: the lease had ended, so the attempt counts for nothing.
    Refused,
    /// No handler for the name: the task went to the dead letters without running.
    Rejected,
    /// The broker took the task back (revoked, or expired): stopped or dropped unrun, not acked.
    Revoked,
    /// The broker refused to extend a running attempt's lease: it was stopped, not acked.
    LeaseLost,
    /// The task's expiry passed while it waited here for a slot: handed back unrun.
    Expired,
}

impl Outcome {
    /// Every outcome, in the order of their counters in a task's series.
    pub(crate) const ALL: [Self; 9] = [
        Self::Succeeded,
        Self::Retried,
        Self::Failed,
        Self::Lost,
        Self::Refused,
        Self::Rejected,
        Self::Revoked,
        Self::LeaseLost,
        Self::Expired,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retried => "retried",
            Self::Failed => "failed",
            Self::Lost => "lost",
            Self::Refused => "refused",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
            Self::LeaseLost => "lease_lost",
            Self::Expired => "expired",
        }
    }
}

/// Why a prefork child was replaced: the `reason` label of `stalk_worker_child_recycles_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecycleReason {
    /// It ran `--max-tasks-per-child` tasks.
    MaxTasks,
    /// Its memory passed `--max-memory-per-child` (replaced after its task).
    MaxMemory,
    /// It passed `--max-child-age`.
    MaxAge,
    /// Its memory passed `--max-memory-per-child-hard`: killed mid-task.
    MaxMemoryHard,
    /// Its attempt passed its hard time limit: killed.
    TimeLimit,
    /// Its attempt was stopped (revoked, lease lost, cold shutdown): killed.
    Stopped,
    /// It died on its own, busy or idle.
    Died,
}

impl RecycleReason {
    /// Every reason, in the order of their counters.
    pub(crate) const ALL: [Self; 7] = [
        Self::MaxTasks,
        Self::MaxMemory,
        Self::MaxAge,
        Self::MaxMemoryHard,
        Self::TimeLimit,
        Self::Stopped,
        Self::Died,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MaxTasks => "max_tasks",
            Self::MaxMemory => "max_memory",
            Self::MaxAge => "max_age",
            Self::MaxMemoryHard => "max_memory_hard",
            Self::TimeLimit => "time_limit",
            Self::Stopped => "stopped",
            Self::Died => "died",
        }
    }
}

/// Who the worker is, for `stalk_worker_info`.
#[derive(Debug)]
pub(crate) struct WorkerIdentity<'a> {
    pub(crate) worker_id: &'a str,
    /// As `--pool` spells it.
    pub(crate) pool: &'a str,
    pub(crate) sdk: &'a str,
}

/// The worker's metrics, or nothing when it serves none (then every call is a branch on
/// `None`, so a worker without `--metrics-listen` pays nothing else). A cheap-clone handle: a
/// clone is shallow and records into the same recorder.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerMetrics(Option<Arc<Inner>>);

/// The recorder and the handles registered on it, so recording is an atomic add, not a lookup
/// in the recorder's registry.
#[derive(Debug)]
struct Inner {
    recorder: PrometheusRecorder,
    slots: Gauge,
    busy_slots: Gauge,
    prefetched: Gauge,
    reconnects: Counter,
    /// One per [`RecycleReason`], in its `ALL` order; none but in the prefork pool.
    recycles: Vec<Counter>,
    /// Only the session loop records task series, so this lock is never contended; a
    /// parking_lot mutex is then a couple of atomic operations.
    tasks: Mutex<TaskSeries>,
}

/// Metadata for registering on our own recorder, which ignores it.
fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

impl WorkerMetrics {
    /// Metrics that record nothing.
    pub(crate) fn off() -> Self {
        Self(None)
    }

    /// Metrics of a worker with `slots` slots that runs the tasks named `registered` (they get
    /// their `task` label before any other name); with the recycle counters when `prefork`.
    pub(crate) fn new(
        slots: u32,
        prefork: bool,
        registered: &[String],
        identity: &WorkerIdentity<'_>,
    ) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(TASK_RUNTIME.into()), &RUNTIME_BUCKETS)
            .expect("invariant: RUNTIME_BUCKETS is not empty")
            .build_recorder();
        describe(&recorder);
        let metadata = metadata();
        let gauge = |name: &'static str| recorder.register_gauge(&Key::from_name(name), &metadata);
        let slots_gauge = gauge(SLOTS);
        slots_gauge.set(f64::from(slots));
        let info = vec![
            Label::new("worker_id", identity.worker_id.to_string()),
            Label::new("pool", identity.pool.to_string()),
            Label::new("sdk", identity.sdk.to_string()),
        ];
        recorder
            .register_gauge(&Key::from_parts(INFO, info), &metadata)
            .set(1.0);
        let busy_slots = gauge(BUSY_SLOTS);
        let prefetched = gauge(PREFETCHED);
        // Registered at start, so a scrape shows 0 and not nothing: rate() needs the first 0.
        let reconnects = recorder.register_counter(&Key::from_name(RECONNECTS), &metadata);
        // Only a prefork pool has children: other pools show no recycle series at all.
        let reasons: &[RecycleReason] = if prefork { &RecycleReason::ALL } else { &[] };
        let recycles = reasons
            .iter()
            .map(|reason| {
                let key =
                    Key::from_parts(CHILD_RECYCLES, vec![Label::new("reason", reason.as_str())]);
                recorder.register_counter(&key, &metadata)
            })
            .collect();
        let mut tasks = TaskSeries::new(TASK_LABEL_CAP);
        for name in registered {
            tasks.admit(name);
        }
        Self(Some(Arc::new(Inner {
            recorder,
            slots: slots_gauge,
            busy_slots,
            prefetched,
            reconnects,
            recycles,
            tasks: Mutex::new(tasks),
        })))
    }

    /// The worker has this many slots now (a control command resized its pool).
    pub(crate) fn slots(&self, slots: u32) {
        if let Some(inner) = &self.0 {
            inner.slots.set(f64::from(slots));
        }
    }

    /// How many slots run an attempt and how many pushed tasks wait for one. The session
    /// loop owns both sets without a lock, so it publishes their sizes after every event; a
    /// size set from the set itself (never incremented or decremented) cannot drift.
    pub(crate) fn occupancy(&self, busy: usize, prefetched: usize) {
        if let Some(inner) = &self.0 {
            // Exact: both are at most concurrency + prefetch, at most 10,000.
            inner.busy_slots.set(busy as f64);
            inner.prefetched.set(prefetched as f64);
        }
    }

    /// A session was opened again after one broke.
    pub(crate) fn reconnected(&self) {
        if let Some(inner) = &self.0 {
            inner.reconnects.increment(1);
        }
    }

    /// A prefork child was replaced for `reason`.
    pub(crate) fn child_recycled(&self, reason: RecycleReason) {
        if let Some(inner) = &self.0 {
            // ALL lists every variant; the counters exist in the prefork pool only.
            let i = RecycleReason::ALL.iter().position(|r| *r == reason);
            if let Some(counter) = i.and_then(|i| inner.recycles.get(i)) {
                counter.increment(1);
            }
        }
    }

    /// An attempt of task `name` ran for `elapsed`.
    pub(crate) fn task_ran(&self, name: &str, elapsed: Duration) {
        if let Some(inner) = &self.0 {
            let mut tasks = inner.tasks.lock();
            tasks
                .runtime(&inner.recorder, name)
                .record(elapsed.as_secs_f64());
        }
    }

    /// Task `name` ended here with `outcome`.
    pub(crate) fn task_ended(&self, name: &str, outcome: Outcome) {
        if let Some(inner) = &self.0 {
            let mut tasks = inner.tasks.lock();
            tasks.outcome(&inner.recorder, name, outcome).increment(1);
        }
    }

    /// The exposition text now; `None` when off.
    pub(crate) fn render(&self) -> Option<String> {
        self.0
            .as_ref()
            .map(|inner| inner.recorder.handle().render())
    }

    /// Moves recorded runtimes into the histograms' buckets. Without it they pile up between
    /// scrapes (one entry per attempt), so it also runs on a timer.
    pub(crate) fn upkeep(&self) {
        if let Some(inner) = &self.0 {
            inner.recorder.handle().run_upkeep();
        }
    }
}

/// The `# HELP` lines.
fn describe(recorder: &PrometheusRecorder) {
    let gauges = [
        (SLOTS, "Tasks the worker runs at once (its concurrency)."),
        (BUSY_SLOTS, "Slots running an attempt now."),
        (
            PREFETCHED,
            "Tasks pushed by the broker that wait in the worker for a slot.",
        ),
        (
            INFO,
            "Always 1; the labels name the worker, its pool and SDK version.",
        ),
    ];
    for (name, help) in gauges {
        recorder.describe_gauge(name.into(), None, help.into());
    }
    let counters = [
        (
            TASKS,
            "Tasks the worker is done with, by task name (capped; the rest are _other) and outcome.",
        ),
        (
            CHILD_RECYCLES,
            "Prefork children replaced, by reason.",
        ),
        (RECONNECTS, "Sessions opened again after one broke."),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
    recorder.describe_histogram(
        TASK_RUNTIME.into(),
        Some(metrics::Unit::Seconds),
        "How long attempts ran, by task name (capped; the rest are _other).".into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> WorkerIdentity<'static> {
        WorkerIdentity {
            worker_id: "w-1",
            pool: "prefork",
            sdk: "0.1.0",
        }
    }

    #[test]
    fn off_metrics_render_nothing_and_record_nothing() {
        let metrics = WorkerMetrics::off();
        metrics.task_ended("t", Outcome::Succeeded);
        metrics.occupancy(1, 2);
        assert_eq!(metrics.render(), None);
    }

    #[test]
    fn each_worker_has_its_own_recorder() {
        let a = WorkerMetrics::new(4, true, &["t".into()], &identity());
        let b = WorkerMetrics::new(2, true, &["t".into()], &identity());
        a.task_ended("t", Outcome::Succeeded);
        let (a, b) = (a.render().unwrap(), b.render().unwrap());
        assert!(
            a.contains("stalk_worker_tasks_total{task=\"t\",outcome=\"succeeded\"} 1"),
            "{a}"
        );
        assert!(!b.contains("stalk_worker_tasks_total{"), "{b}");
        assert!(a.contains("stalk_worker_slots 4"), "{a}");
        assert!(b.contains("stalk_worker_slots 2"), "{b}");
    }

    #[test]
    fn runtimes_land_in_the_explicit_buckets() {
        let metrics = WorkerMetrics::new(1, true, &["t".into()], &identity());
        metrics.task_ran("t", Duration::from_millis(3));
        metrics.task_ran("t", Duration::from_secs(400));
        metrics.upkeep();
        let text = metrics.render().unwrap();
        let bucket = |le: &str| {
            format!("stalk_worker_task_runtime_seconds_bucket{{task=\"t\",le=\"{le}\"}}")
        };
        assert!(text.contains(&format!("{} 0\n", bucket("0.001"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.005"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", bucket("300"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", bucket("+Inf"))), "{text}");
        assert!(
            text.contains("stalk_worker_task_runtime_seconds_count{task=\"t\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn every_recycle_reason_has_a_series_from_the_start() {
        let metrics = WorkerMetrics::new(1, true, &[], &identity());
        metrics.child_recycled(RecycleReason::MaxTasks);
        let text = metrics.render().unwrap();
        for reason in RecycleReason::ALL {
            let value = if reason == RecycleReason::MaxTasks {
                1
            } else {
                0
            };
            let line = format!(
                "stalk_worker_child_recycles_total{{reason=\"{}\"}} {value}\n",
                reason.as_str()
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains("stalk_worker_reconnects_total 0\n"), "{text}");
    }
}
