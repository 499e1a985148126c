//! [`Worker`]: starts its steps, runs the session (or, in a prefork child, serves the parent)
//! until shutdown, and stops the steps in reverse.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;

use tonic::transport::Channel;

use crate::error::WorkerError;
use crate::identity::{hostname, SDK_VERSION};
use crate::link::Link;
use crate::metrics::MetricsServer;
use crate::pool::{serve_parent, PoolKind};
use crate::session::serve::{serve, Links};
use crate::session::SessionSettings;
use crate::steps::{StepContext, Steps, POOL, SESSION};

/// A connected worker, ready to [`run`](Worker::run).
#[derive(Debug)]
pub struct Worker {
    /// The broker's address, as given.
    broker: String,
    link: Link,
    settings: SessionSettings,
    /// For the facts it reports.
    pool: PoolKind,
    /// The steps in start order.
    steps: Steps,
    /// Serves `/metrics` while the worker lives, when asked to.
    metrics: Option<MetricsServer>,
}

/// The first SIGTERM or ctrl-c.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

impl Worker {
    /// A worker that talks over `link`, ready to start `steps`.
    pub(crate) fn new(
        broker: String,
        link: Link,
        settings: SessionSettings,
        pool: PoolKind,
        steps: Steps,
        metrics: Option<MetricsServer>,
    ) -> Self {
        Self {
            broker,
            link,
            settings,
            pool,
            steps,
            metrics,
        }
    }

    /// The address `/metrics` is served on, when the worker serves it (see
    /// [`crate::WorkerBuilder::metrics_listen`]): with port 0 asked for, the one picked. It is
    /// served from `connect` until the worker is dropped (when [`Worker::run`] returns).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::addr)
    }

    /// Runs until SIGTERM or ctrl-c, then shuts down warm; a second signal stops the running
    /// tasks at once (cold: never acked, put back by the broker at once).
    ///
    /// # Errors
    /// As [`Worker::run`].
    pub async fn run_until_signal(self) -> Result<(), WorkerError> {
        let (cold_tx, cold_rx) = tokio::sync::oneshot::channel::<()>();
        let warm = async move {
            signal().await;
            tracing::info!("signal: warm shutdown (a second signal stops running tasks)");
            tokio::spawn(async move {
                signal().await;
                let _ = cold_tx.send(());
            });
        };
        self.run_with_cold(warm, async move {
            let _ = cold_rx.await;
        })
        .await
    }

    /// Runs tasks until `shutdown` resolves, then shuts down warm: takes no new task, lets the
    /// running ones finish and acknowledges them, and closes the session with `goodbye` (the
    /// broker puts any task pushed but not started back in its queue at once).
    ///
    /// When the session breaks (the broker restarted, the network failed), the worker
    /// reconnects with backoff, keeps its running tasks, reports them on the new session so the
    /// broker can hand their leases back, and sends the acks it could not send. An ack whose
    /// lease the broker no longer knows is refused there, so nothing is acked twice; the task
    /// runs again elsewhere (at least once).
    ///
    /// A task's outcome is logged ("task succeeded", "task failed", …) once the broker has
    /// accepted its ack. A refused ack (the lease ran out, was handed on, or the task was
    /// revoked) is logged at `warn` with the broker's reason instead, and counted: the answer to
    /// a control `ping` carries the count as `acks_refused`.
    ///
    /// # Errors
    /// [`WorkerError::Session`] when the broker refuses the session (a bad setting or token).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        self.run_with_cold(shutdown, std::future::pending()).await
    }

    /// As [`Worker::run`]; once stopping, `cold` resolving stops the running tasks at once.
    ///
    /// # Errors
    /// As [`Worker::run`].
    pub async fn run_with_cold(
        mut self,
        shutdown: impl Future<Output = ()>,
        cold: impl Future<Output = ()>,
    ) -> Result<(), WorkerError> {
        let mut steps = std::mem::take(&mut self.steps.0);
        let mut ctx = StepContext::new(self.settings.worker_id.clone());
        ctx.authorization.clone_from(&self.settings.authorization);
        ctx.facts = self.facts();
        if let Link::Broker(channel) = &self.link {
            ctx.channel = Some(channel.clone());
        }
        let mut started = 0;
        let mut result = Ok(());
        for step in &mut steps {
            tracing::debug!(step = step.name(), "starting step");
            if let Err(cause) = step.start(&mut ctx).await {
                result = Err(WorkerError::Step {
                    step: step.name().to_string(),
                    cause,
                });
                break;
            }
            started += 1;
        }
        if result.is_ok() {
            result = match &self.link {
                Link::Child(path) => {
                    serve_parent(path, &self.settings.registry, &ctx.resources).await
                }
                Link::Broker(channel) => {
                    self.log_startup();
                    self.serve_steps(channel.clone(), &mut ctx, shutdown, cold)
                        .await
                }
            };
        }
        for step in steps[..started].iter_mut().rev() {
            if let Err(cause) = step.stop(&mut ctx).await {
                tracing::warn!(step = step.name(), %cause, "a step failed to stop");
            }
        }
        result
    }

    /// Runs the session with what the steps started: the pool, its completions and the requests
    /// of the lease keeper, heartbeat and control handler. The pool goes back to the context, for
    /// the pool step to close.
    async fn serve_steps(
        &self,
        channel: Channel,
        ctx: &mut StepContext,
        shutdown: impl Future<Output = ()>,
        cold: impl Future<Output = ()>,
    ) -> Result<(), WorkerError> {
        let missing = |what: &str, step: &str| {
            WorkerError::Config(format!(
                "no step provided {what}: a replacement of the {step:?} step must provide it"
            ))
        };
        let pool = ctx.pool.take().ok_or_else(|| missing("the pool", POOL))?;
        let done = ctx.done.take().ok_or_else(|| missing("the pool", POOL));
        let requests = ctx
            .requests_rx
            .take()
            .ok_or_else(|| missing("the session", SESSION));
        let stop = ctx.stop.clone();
        // Shut down on the caller's signal or a step's request (a control command).
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
        };
        let result = match (done, requests) {
            (Ok(done), Ok(requests)) => {
                let links = Links {
                    done,
                    requests,
                    commands: ctx.commands.clone(),
                };
                serve(&self.settings, channel, &pool, links, shutdown, cold).await
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        ctx.pool = Some(pool);
        result
    }

    /// Says what the worker is about to do, once its steps have started.
    fn log_startup(&self) {
        let settings = &self.settings;
        tracing::info!(
            worker = %settings.worker_id,
            broker = %self.broker,
            queues = %settings.queues.join(","),
            tasks = %settings.registry.names().join(","),
            pool = %pool_name(self.pool),
            concurrency = settings.concurrency,
            prefetch = settings.prefetch,
            metrics_addr = self.metrics_addr().map(tracing::field::display),
            "worker ready"
        );
    }

    /// What the worker tells about itself in answer to a ping.
    fn facts(&self) -> BTreeMap<String, String> {
        let settings = &self.settings;
        [
            ("pid", std::process::id().to_string()),
            ("hostname", hostname()),
            ("pool", pool_name(self.pool)),
            ("concurrency", settings.concurrency.to_string()),
            ("prefetch", settings.prefetch.to_string()),
            ("queues", settings.queues.join(",")),
            ("sdk", SDK_VERSION.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// A pool's name, as the `--pool` flag spells it.
pub(crate) fn pool_name(pool: PoolKind) -> String {
    format!("{pool:?}").to_lowercase()
}
