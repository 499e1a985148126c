//! Prometheus exposition (`/metrics` of the broker's HTTP address), through the `metrics` and
//! `metrics-exporter-prometheus` crates.
//!
//! Gauges are sampled from the broker at scrape time, so they can never drift from the
//! engine's state: each scrape records them into a recorder of its own and renders it, so a
//! queue that is gone leaves no stale series behind. Counters and histograms are kept by
//! [`BrokerStats`](crate::stats::BrokerStats), counted from the engine's events as they are stored.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::broker::Broker;
use crate::sessions::SessionRegistry;

/// What a scrape reads.
#[derive(Clone)]
pub(crate) struct Sources {
    pub(crate) broker: Arc<Broker>,
    pub(crate) sessions: Arc<SessionRegistry>,
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(sources): State<Sources>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&sources.broker, &sources.sessions),
    )
}

/// The exposition text of everything sampled now.
fn render(broker: &Broker, sessions: &SessionRegistry) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let metadata = Metadata::new(module_path!(), metrics::Level::INFO, None);
    let gauge = |name: &'static str, labels: Vec<Label>, value: f64| {
        recorder
            .register_gauge(&Key::from_parts(name, labels), &metadata)
            .set(value);
    };
    recorder.describe_gauge(
        "stalk_queue_tasks".into(),
        None,
        "Tasks in a queue, by state (sampled at scrape time).".into(),
    );
    for (queue, counts) in broker.stats(&[]) {
        for (state, n) in [
            ("ready", counts.ready),
            ("scheduled", counts.scheduled),
            ("leased", counts.leased),
            ("retrying", counts.retrying),
            ("dead", counts.dead),
            ("waiting", counts.waiting),
        ] {
            let labels = vec![
                Label::new("queue", queue.to_string()),
                Label::new("state", state),
            ];
            gauge("stalk_queue_tasks", labels, n as f64);
        }
    }
    recorder.describe_gauge(
        "stalk_worker_sessions".into(),
        None,
        "Open worker sessions.".into(),
    );
    gauge(
        "stalk_worker_sessions",
        Vec::new(),
        sessions.open_sessions() as f64,
    );
    recorder.describe_gauge(
        "stalk_long_polls".into(),
        None,
        "Lease and GetResult calls waiting now.".into(),
    );
    gauge("stalk_long_polls", Vec::new(), broker.long_polls() as f64);
    recorder.describe_gauge(
        "stalk_store_bytes".into(),
        None,
        "Bytes the store occupies on disk.".into(),
    );
    gauge("stalk_store_bytes", Vec::new(), broker.store_size() as f64);
    recorder.describe_gauge(
        "stalk_up".into(),
        None,
        "1 while the broker takes writes, 0 after a storage failure.".into(),
    );
    gauge(
        "stalk_up",
        Vec::new(),
        if *broker.health().borrow() { 1.0 } else { 0.0 },
    );
    recorder.describe_gauge(
        "stalk_queue_oldest_ready_seconds".into(),
        Some(metrics::Unit::Seconds),
        "How long the longest-waiting READY task of a queue has waited since it became ready \
         (its ETA or retry time, else its enqueue)."
            .into(),
    );
    let now_ms = broker.clock().now_ms();
    for (queue, since_ms) in broker.oldest_ready() {
        let waited = Duration::from_millis(now_ms.saturating_sub(since_ms));
        let labels = vec![Label::new("queue", queue.to_string())];
        gauge(
            "stalk_queue_oldest_ready_seconds",
            labels,
            waited.as_secs_f64(),
        );
    }
    recorder.describe_gauge(
        "stalk_event_watchers".into(),
        None,
        "Event stream watchers connected now.".into(),
    );
    gauge("stalk_event_watchers", Vec::new(), broker.watchers() as f64);
    let cpu_seconds = process(&recorder, &gauge);
    let mut text = handle.render();
    if let Some(seconds) = cpu_seconds {
        // A counter of fractional seconds: the `metrics` crate's counters are integers, so this
        // one line is written by hand, in the exposition format's own syntax.
        text.push_str(&format!(
            "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total {seconds}\n"
        ));
    }
    if let Some(stats) = broker.metrics() {
        text.push_str(&stats.render());
    }
    text
}

/// The standard `process_*` gauges of this process; returns its CPU seconds, a counter.
fn process(
    recorder: &PrometheusRecorder,
    gauge: &impl Fn(&'static str, Vec<Label>, f64),
) -> Option<f64> {
    let now = metrics_process::collector::collect();
    let values = [
        (
            "process_open_fds",
            "Open file descriptors.",
            now.open_fds.map(|n| n as f64),
        ),
        (
            "process_max_fds",
            "The most file descriptors the process may open.",
            now.max_fds.map(|n| n as f64),
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            now.resident_memory_bytes.map(|n| n as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            now.virtual_memory_bytes.map(|n| n as f64),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since the unix epoch, in seconds.",
            now.start_time_seconds.map(|n| n as f64),
        ),
        (
            "process_threads",
            "Operating system threads in the process.",
            now.threads.map(|n| n as f64),
        ),
    ];
    for (name, help, value) in values {
        if let Some(value) = value {
            recorder.describe_gauge(name.into(), None, help.into());
            gauge(name, Vec::new(), value);
        }
    }
    now.cpu_seconds_total
}
