//! `GET /metrics` on the worker's own address (`--metrics-listen`), served by axum as the
//! broker serves its own.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::WorkerMetrics;
use crate::error::WorkerError;

/// How often recorded runtimes are moved into the histograms' buckets between scrapes, so a
/// worker nobody scrapes does not keep one entry per attempt.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Listens on `listen` (`HOST:PORT`; port 0 picks one); the listener and the address bound.
///
/// # Errors
/// [`WorkerError::MetricsListen`] when the address cannot be listened on.
pub(crate) async fn bind(listen: &str) -> Result<(TcpListener, SocketAddr), WorkerError> {
    let failed = |source| WorkerError::MetricsListen {
        addr: listen.to_owned(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(failed)?;
    let addr = listener.local_addr().map_err(failed)?;
    Ok((listener, addr))
}

/// A running `/metrics` endpoint; it stops when this is dropped (with its worker).
#[derive(Debug)]
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    _stop: DropGuard,
}

impl MetricsServer {
    /// Serves `metrics` on `listener`, bound to `addr`, until dropped.
    pub(crate) fn start(listener: TcpListener, addr: SocketAddr, metrics: WorkerMetrics) -> Self {
        let stop = CancellationToken::new();
        let upkeep = metrics.clone();
        let app = axum::Router::new()
            .route("/metrics", get(scrape))
            .with_state(metrics);
        let stopped = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(cause = %err, "the metrics listener failed");
            }
        });
        let stopped = stop.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tokio::select! {
                    _ = ticks.tick() => upkeep.upkeep(),
                    () = stopped.cancelled() => return,
                }
            }
        });
        tracing::info!(%addr, "metrics listening on {addr}");
        Self {
            addr,
            _stop: stop.drop_guard(),
        }
    }

    /// The address `/metrics` is served on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn scrape(State(metrics): State<WorkerMetrics>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render().unwrap_or_default(),
    )
}
