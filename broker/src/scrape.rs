//! Prometheus exposition on an HTTP address of its own (`--metrics-listen`), through the
//! `metrics` and `metrics-exporter-prometheus` crates.
//!
//! Everything here is sampled from the broker at scrape time, so it can never drift from the
//! engine's state: each scrape records into a recorder of its own and renders it, so a queue
//! that is gone leaves no stale series behind.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::sessions::SessionRegistry;

/// What a scrape reads.
#[derive(Clone)]
struct Sources {
    broker: Arc<Broker>,
    sessions: Arc<SessionRegistry>,
}

/// Serves `GET /metrics` on `listener` until `shutdown` is cancelled; answers the bound address.
///
/// # Errors
/// When the listener has no local address.
pub(crate) fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    sessions: Arc<SessionRegistry>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state(Sources { broker, sessions });
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::error!(cause = %err, "the metrics listener failed");
        }
    });
    Ok((addr, task))
}

async fn scrape(State(sources): State<Sources>) -> impl IntoResponse {
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
    gauge(
        "stalk_up",
        Vec::new(),
        if *broker.health().borrow() { 1.0 } else { 0.0 },
    );
    handle.render()
}
