//! The broker's HTTP address (`--metrics-listen`): Prometheus's `/metrics` and the web
//! dashboard, served by one axum router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::scrape::{scrape, Sources};
use crate::service::Api;
use crate::sessions::SessionRegistry;

/// How often recorded histogram samples are moved into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What the HTTP address serves from.
pub(crate) struct Served {
    pub(crate) broker: Arc<Broker>,
    pub(crate) sessions: Arc<SessionRegistry>,
    /// The gRPC services the dashboard calls.
    pub(crate) api: Api,
    /// The broker's token, which guards the dashboard too.
    pub(crate) token: Option<String>,
}

/// Serves `listener` until `shutdown` is cancelled; answers the bound address.
///
/// # Errors
/// When the listener has no local address.
pub(crate) fn serve(
    listener: TcpListener,
    served: Served,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    if let Some(stats) = served.broker.metrics().cloned() {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tokio::select! {
                    _ = every.tick() => stats.upkeep(),
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }
    let metrics = axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state(Sources {
            broker: served.broker,
            sessions: served.sessions,
        });
    let app = metrics.merge(crate::dashboard::router(
        served.api,
        served.token.as_deref(),
        shutdown.clone(),
    ));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::error!(cause = %err, "the HTTP listener failed");
        }
    });
    Ok((addr, task))
}
