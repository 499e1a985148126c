//! The built-in steps: connection, pool, session, lease keeper, heartbeat (and the control
//! step, in `control.rs`).

use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::admin_client::AdminClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::control::ControlHandler;
use super::names::{CONNECTION, HEARTBEAT, LEASE_KEEPER, POOL, SESSION};
use super::request::StepRequest;
use super::step::{Step, StepContext};
use crate::commands::ControlCommands;
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
    /// The user-defined control commands.
    pub(crate) commands: ControlCommands,
}

/// The built-in steps, in their default order.
pub(crate) fn builtins(settings: Settings) -> Vec<Box<dyn Step>> {
    vec![
        Box::new(Connection),
        Box::new(PoolStep {
            kind: settings.pool,
            slots: settings.slots,
            limits: settings.child_limits,
            registry: settings.registry.clone(),
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
            registry: settings.registry,
            commands: settings.commands,
        }),
    ]
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
