//! The built-in steps: connection, pool, session, lease keeper, heartbeat.

use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::admin_client::AdminClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::names::{CONNECTION, CONTROL, HEARTBEAT, LEASE_KEEPER, POOL, SESSION};
use super::request::StepRequest;
use super::step::{Step, StepContext};
use crate::error::{status_sentence, StepError};
use crate::metrics::WorkerMetrics;
use crate::pool::{ChildLimits, Pool, PoolKind};
use crate::registry::Registry;

/// The settings the built-in steps run with.
pub(crate) struct Settings {
    pub(crate) pool: PoolKind,
    pub(crate) slots: u32,
    pub(crate) child_limits: ChildLimits,
    pub(crate) registry: Registry,
    pub(crate) keep_every: Duration,
    pub(crate) heartbeat_every: Duration,
    /// What the pool counts (prefork recycles).
    pub(crate) metrics: WorkerMetrics,
}

/// The built-in steps, in their default order.
pub(crate) fn builtins(settings: Settings) -> Vec<Box<dyn Step>> {
    vec![
        Box::new(Connection),
        Box::new(PoolStep {
            kind: settings.pool,
            slots: settings.slots,
            limits: settings.child_limits,
            registry: settings.registry,
            metrics: settings.metrics,
        }),
        Box::new(SessionStep),
        Box::new(Ticker {
            name: LEASE_KEEPER,
            every: settings.keep_every,
            request: StepRequest::KeepLeases,
            stop: CancellationToken::new(),
        }),
        Box::new(Ticker {
            name: HEARTBEAT,
            every: settings.heartbeat_every,
            request: StepRequest::Heartbeat,
            stop: CancellationToken::new(),
        }),
        Box::new(ControlHandler {
            stop: CancellationToken::new(),
        }),
    ]
}

/// Answers control commands from the broker: `ping` with the worker's facts, `shutdown` by
/// starting a warm shutdown.
struct ControlHandler {
    stop: CancellationToken,
}

#[async_trait::async_trait]
impl Step for ControlHandler {
    fn name(&self) -> &str {
        CONTROL
    }

    fn requires(&self) -> Vec<String> {
        vec![SESSION.into()]
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        let session = session_link(ctx)?;
        let (commands, mut requests) = mpsc::channel::<pb::ControlRequest>(16);
        ctx.commands = Some(commands);
        let (facts, shutdown, stop) = (ctx.facts.clone(), ctx.stop.clone(), self.stop.clone());
        tokio::spawn(async move {
            loop {
                let request = tokio::select! {
                    request = requests.recv() => match request {
                        Some(request) => request,
                        None => return,
                    },
                    () = stop.cancelled() => return,
                };
                let kind = request.command.and_then(|c| c.kind);
                let shutting_down = matches!(kind, Some(pb::worker_command::Kind::Shutdown(_)));
                let (ok, message) = match kind {
                    Some(pb::worker_command::Kind::Ping(_)) => (true, "pong".to_string()),
                    Some(pb::worker_command::Kind::Shutdown(_)) => {
                        (true, "shutting down warm".to_string())
                    }
                    None => (
                        false,
                        "unknown command; this worker knows ping and shutdown".into(),
                    ),
                };
                let reply = pb::ControlReply {
                    request_id: request.request_id,
                    ok,
                    message,
                    details: facts.clone().into_iter().collect(),
                };
                // The answer is queued first: the session sends what is queued before it closes.
                if session.send(StepRequest::Reply(reply)).await.is_err() {
                    return;
                }
                if shutting_down {
                    tracing::info!("shutdown requested by a control command");
                    shutdown.cancel();
                }
            }
        });
        Ok(())
    }

    async fn stop(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        ctx.commands = None;
        self.stop.cancel();
        Ok(())
    }
}

/// The channel to the running session, for steps that require it.
fn session_link(ctx: &StepContext) -> Result<mpsc::Sender<StepRequest>, StepError> {
    ctx.requests
        .clone()
        .ok_or_else(|| StepError::new("the session step has not started"))
}

/// Checks that the broker answers and accepts the worker's token before anything else starts,
/// so a wrong address or token is a startup error.
struct Connection;

#[async_trait::async_trait]
impl Step for Connection {
    fn name(&self) -> &str {
        CONNECTION
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        let channel = ctx
            .channel
            .clone()
            .ok_or_else(|| StepError::new("no broker channel"))?;
        let mut request = tonic::Request::new(pb::QueueStatsRequest { queues: Vec::new() });
        if let Some(authorization) = &ctx.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        AdminClient::new(channel)
            .queue_stats(request)
            .await
            .map_err(|status| refused(&status))?;
        Ok(())
    }
}

/// What the connection step says when the broker refused its probe.
fn refused(status: &tonic::Status) -> StepError {
    let hint = match status.code() {
        tonic::Code::Unauthenticated => {
            "; give the worker the broker's token (WorkerBuilder::auth_token, --token or \
             STALK_TOKEN)"
        }
        tonic::Code::Unavailable => "; the broker stopped answering: is it shutting down?",
        _ => "",
    };
    StepError::new(format!(
        "the broker answered {}{hint}",
        status_sentence(status)
    ))
}

/// Starts the pool that runs attempts; closes it last.
struct PoolStep {
    kind: PoolKind,
    slots: u32,
    limits: ChildLimits,
    registry: Registry,
    metrics: WorkerMetrics,
}

#[async_trait::async_trait]
impl Step for PoolStep {
    fn name(&self) -> &str {
        POOL
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        let (done, done_rx) = mpsc::unbounded_channel();
        let pool = Pool::start(
            self.kind,
            self.slots,
            self.limits,
            &self.registry,
            ctx.resources.clone(),
            done,
            self.metrics.clone(),
        )
        .await
        .map_err(|e| StepError::new(e.to_string()))?;
        ctx.pool = Some(pool);
        ctx.done = Some(done_rx);
        Ok(())
    }

    async fn stop(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        if let Some(pool) = ctx.pool.take() {
            pool.close().await;
        }
        Ok(())
    }
}

/// Prepares the streaming session (it runs once every step has started) and the channel the
/// lease keeper and heartbeat reach it by.
struct SessionStep;

#[async_trait::async_trait]
impl Step for SessionStep {
    fn name(&self) -> &str {
        SESSION
    }

    fn requires(&self) -> Vec<String> {
        vec![CONNECTION.into(), POOL.into()]
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        let (requests, requests_rx) = mpsc::channel(16);
        ctx.requests = Some(requests);
        ctx.requests_rx = Some(requests_rx);
        Ok(())
    }

    async fn stop(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        ctx.requests = None;
        Ok(())
    }
}

/// Asks the session for `request` every `every`: the lease keeper and the heartbeat.
struct Ticker {
    name: &'static str,
    every: Duration,
    request: StepRequest,
    stop: CancellationToken,
}

#[async_trait::async_trait]
impl Step for Ticker {
    fn name(&self) -> &str {
        self.name
    }

    fn requires(&self) -> Vec<String> {
        vec![SESSION.into()]
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        let session = session_link(ctx)?;
        let (every, request, stop) = (self.every, self.request.clone(), self.stop.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if session.send(request.clone()).await.is_err() {
                            return;
                        }
                    }
                    () = stop.cancelled() => return,
                }
            }
        });
        Ok(())
    }

    async fn stop(&mut self, _ctx: &mut StepContext) -> Result<(), StepError> {
        self.stop.cancel();
        Ok(())
    }
}
