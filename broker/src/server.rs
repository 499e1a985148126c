//! Starting and stopping a broker: the one seam for I/O. [`start`] takes a bound listener, so
//! tests bind `127.0.0.1:0` first and never sleep; [`Server::shutdown`] runs the phases of a
//! graceful stop with a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::HealthReporter;

use crate::broker::{Broker, BrokerError, EventRetention};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::engine::{EngineConfig, Timer};
use crate::service;
use crate::sessions::SessionRegistry;
use crate::stats::BrokerStats;
use crate::store::{Store, StoreConfig, StoreError};

/// How long shutdown waits, once no RPC is in flight, for clients to close their connections.
const CONNECTION_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// The least time the final flush gets, even when draining used up the shutdown timeout.
const FINAL_FLUSH_FLOOR: Duration = Duration::from_millis(500);

/// Why the broker could not start; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be opened (the store's error says why and what to do).
    #[error(transparent)]
    Open(StoreError),
    /// The stored data cannot be read back.
    #[error("the data directory cannot be recovered; restore it from a backup or start with an empty --data-dir")]
    Recover(#[source] BrokerError),
    /// The TLS files cannot be read.
    #[error("cannot read TLS file {path}")]
    TlsFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The metrics address cannot be listened on.
    #[error("cannot listen for metrics on {addr}: is the host this machine's and the port free? pick another --metrics-listen")]
    MetricsListen {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The listener, TLS setup or the server failed.
    #[error("cannot serve: {what}")]
    Serve {
        /// What failed.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StartError {
    pub(crate) fn serve(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Serve {
            what,
            source: Box::new(source),
        }
    }
}

/// A running broker. Dropping it cancels it; call [`Server::shutdown`] to stop it gracefully.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    /// Where `/metrics` is served, if it is.
    metrics_addr: Option<SocketAddr>,
    broker: Arc<Broker>,
    sessions: Arc<SessionRegistry>,
    token: CancellationToken,
    tracker: TaskTracker,
    /// Every RPC in flight.
    rpcs: TaskTracker,
    serve: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    reporter: HealthReporter,
    shutdown_timeout: Duration,
}

/// Opens the store, recovers, and serves on `listener` until shut down.
///
/// # Errors
/// [`StartError`] naming what to fix: an invalid setting, a data directory that cannot be opened
/// or recovered, unreadable TLS files.
pub async fn start(listener: TcpListener, config: Config) -> Result<Server, StartError> {
    start_with_clock(listener, config, Arc::new(SystemClock)).await
}

/// As [`start`], with a custom clock (tests).
///
/// # Errors
/// As [`start`].
pub async fn start_with_clock(
    listener: TcpListener,
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<Server, StartError> {
    config.validate()?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::serve("the listener has no local address", e))?;
    let token = CancellationToken::new();
    let broker = Arc::new(open_broker(&config, clock, token.clone())?);

    let auth = service::BearerAuth::new(config.auth_token.as_deref());
    let sessions = Arc::new(SessionRegistry::default());
    let (routes, reporter, api) = service::routes(
        &broker,
        &sessions,
        config.max_payload_bytes,
        config.session_grace,
        config.worker_silence,
        config.priority_aging,
        auth,
    )
    .await
    .map_err(|e| StartError::serve("the reflection service cannot be built", e))?;
    let builder = server_builder(&config)?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let rpcs = TaskTracker::new();
    let serve = tokio::spawn(
        builder
            .layer(service::InFlightLayer(rpcs.clone()))
            .layer(service::MalformedLayer)
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, token.clone().cancelled_owned()),
    );

    let tracker = TaskTracker::new();
    let metrics_addr = match &config.metrics_listen {
        Some(listen) => {
            let listener = TcpListener::bind(listen.as_str()).await.map_err(|source| {
                StartError::MetricsListen {
                    addr: listen.clone(),
                    source,
                }
            })?;
            let served = crate::http::Served {
                broker: broker.clone(),
                sessions: sessions.clone(),
                api,
                token: config.auth_token.clone(),
            };
            let (bound, task) = crate::http::serve(listener, served, token.clone())
                .map_err(|e| StartError::serve("the HTTP listener has no address", e))?;
            tracker.spawn(async move {
                let _ = task.await;
            });
            Some(bound)
        }
        None => None,
    };
    crate::drivers::settle_flows(&broker).await;
    for timer in Timer::ALL {
        tracker.spawn(crate::drivers::run(broker.clone(), timer, token.clone()));
    }
    tracker.spawn(crate::drivers::events(
        broker.clone(),
        EventRetention {
            max_count: config.event_retention_count,
            max_age_ms: u64::try_from(config.event_retention_age.as_millis()).unwrap_or(u64::MAX),
        },
        token.clone(),
    ));
    tracker.spawn(crate::drivers::reopen(
        broker.clone(),
        sessions.clone(),
        token.clone(),
    ));
    tracker.spawn(mirror_health(
        broker.clone(),
        reporter.clone(),
        token.clone(),
    ));
    tracing::info!(%addr, config = %config_for_log(&config), "stalkd serving");
    Ok(Server {
        addr,
        metrics_addr,
        broker,
        sessions,
        token,
        tracker,
        rpcs,
        serve: Some(serve),
        reporter,
        shutdown_timeout: config.shutdown_timeout,
    })
}

/// Opens the store and recovers the broker core from it.
fn open_broker(
    config: &Config,
    clock: Arc<dyn Clock>,
    token: CancellationToken,
) -> Result<Broker, StartError> {
    let store = Store::open(&StoreConfig {
        path: config.data_dir.clone(),
        cache_bytes: config.cache_bytes,
        flush_every_ms: u64::try_from(config.flush_every.as_millis()).unwrap_or(u64::MAX),
        min_free_bytes: config.min_free_space,
        accept_data_loss: config.accept_data_loss,
    })
    .map_err(StartError::Open)?;
    let engine_config = EngineConfig {
        result_ttl_ms: u64::try_from(config.result_ttl.as_millis()).unwrap_or(u64::MAX),
        priority_aging_ms: u64::try_from(config.priority_aging.as_millis()).unwrap_or(u64::MAX),
    };
    let stats = config
        .metrics_listen
        .is_some()
        .then(|| Arc::new(BrokerStats::new()));
    Broker::open(store, engine_config, config.durability, clock, token, stats)
        .map_err(StartError::Recover)
}

/// The gRPC server, with TLS when configured.
fn server_builder(config: &Config) -> Result<tonic::transport::Server, StartError> {
    // Far above what a call may carry, so h2 reads an oversized header list and that call alone
    // fails (service::malformed) instead of the whole connection getting GOAWAY.
    let builder =
        tonic::transport::Server::builder().http2_max_header_list_size(service::HEADER_READ_LIMIT);
    let Some(tls) = &config.tls else {
        return Ok(builder);
    };
    let read = |path: &std::path::PathBuf| {
        std::fs::read(path).map_err(|source| StartError::TlsFile {
            path: path.clone(),
            source,
        })
    };
    let identity = tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    builder
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .map_err(|e| StartError::serve("TLS setup failed", e))
}

fn config_for_log(config: &Config) -> String {
    serde_json::to_string(config).unwrap_or_default()
}

/// Turns health NOT_SERVING when the broker fails in the background, and SERVING again when it
/// reopened its store after a storage failure; until shutdown, which owns health from then on.
async fn mirror_health(broker: Arc<Broker>, reporter: HealthReporter, token: CancellationToken) {
    let mut healthy = broker.health();
    loop {
        tokio::select! {
            changed = healthy.changed() => if changed.is_err() { return },
            () = token.cancelled() => return,
        }
        let ok = *healthy.borrow_and_update();
        if ok {
            service::set_serving(&reporter).await;
        } else {
            service::set_not_serving(&reporter).await;
        }
    }
}

impl Server {
    /// The address the broker listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address `/metrics` is served on (`Config::metrics_listen`), if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The broker core, for in-process tests and tools.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// The connected workers' sessions, for in-process tests and tools.
    pub fn sessions(&self) -> &Arc<SessionRegistry> {
        &self.sessions
    }

    /// Resolves when the server stopped on its own (it should not; a failure to serve does).
    pub async fn stopped(&mut self) -> Result<(), StartError> {
        match self.serve.as_mut() {
            Some(serve) => {
                let result = serve.await;
                self.serve = None;
                match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(StartError::serve("the server stopped", e)),
                    Err(e) => Err(StartError::serve("the server task ended", e)),
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Stops gracefully: health NOT_SERVING; stop accepting; end long polls with UNAVAILABLE;
    /// wait for the RPCs in flight and the background tasks within the shutdown timeout; let
    /// clients close their connections after GOAWAY (briefly: a client that keeps an idle
    /// connection open is not waited for); flush; done.
    ///
    /// The final flush is bounded too (by what is left of the timeout, at least
    /// [`FINAL_FLUSH_FLOOR`]): after a storage failure sled's flush can wait forever.
    ///
    /// # Errors
    /// The final flush's storage failure, or [`StoreError::FlushTimedOut`].
    pub async fn shutdown(mut self) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        service::set_not_serving(&self.reporter).await;
        self.token.cancel();
        self.rpcs.close();
        self.tracker.close();
        let drain = async {
            self.rpcs.wait().await;
            self.tracker.wait().await;
        };
        if tokio::time::timeout_at(deadline, drain).await.is_err() {
            tracing::warn!(timeout = ?self.shutdown_timeout, "shutdown deadline passed; cutting open calls");
        }
        if let Some(mut serve) = self.serve.take() {
            match tokio::time::timeout(CONNECTION_CLOSE_GRACE, &mut serve).await {
                Ok(Ok(Err(err))) => tracing::warn!(cause = %err, "server ended with an error"),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!("clients kept connections open after GOAWAY; closing them");
                    serve.abort();
                }
            }
        }
        let flush_until = deadline.max(tokio::time::Instant::now() + FINAL_FLUSH_FLOOR);
        let flushed = match tokio::time::timeout_at(flush_until, self.broker.sync()).await {
            Ok(flushed) => flushed,
            Err(_) => Err(StoreError::FlushTimedOut {
                timeout: self.shutdown_timeout,
            }
            .into()),
        };
        match &flushed {
            Ok(()) => tracing::info!("shutdown complete"),
            Err(err) => {
                tracing::error!(cause = %crate::broker::chain(err), "the final flush failed")
            }
        }
        flushed
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(serve) = self.serve.take() {
            serve.abort();
        }
    }
}
