//! The control step: answers the broker's control commands. It answers `ping`, `shutdown`,
//! `time_limit` and user-defined commands itself, and hands queue and pool changes to the
//! session, which owns both and answers them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::worker_command::Kind;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::names::{CONTROL, SESSION};
use super::request::{Reconfigure, StepRequest};
use super::step::{Step, StepContext};
use crate::commands::{CommandArgs, ControlCommands};
use crate::error::StepError;
use crate::registry::Registry;
use crate::time::TimeLimits;

/// Answers control commands from the broker.
pub(super) struct ControlHandler {
    pub(super) stop: CancellationToken,
    /// Whose task types `time_limit` changes.
    pub(super) registry: Registry,
    /// The user-defined commands.
    pub(super) commands: ControlCommands,
}

/// What the step does with one command.
enum Handled {
    /// Answer it.
    Answer(bool, String, BTreeMap<String, String>),
    /// Answer it, then shut down warm.
    ShutDown,
    /// Leave it to the session.
    Session(Reconfigure),
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
        let session = ctx
            .requests
            .clone()
            .ok_or_else(|| StepError::new("the session step has not started"))?;
        let (commands, mut requests) = mpsc::channel::<pb::ControlRequest>(16);
        ctx.commands = Some(commands);
        let (facts, shutdown, stop) = (ctx.facts.clone(), ctx.stop.clone(), self.stop.clone());
        let (registry, custom) = (self.registry.clone(), self.commands.clone());
        tokio::spawn(async move {
            loop {
                let request = tokio::select! {
                    request = requests.recv() => match request {
                        Some(request) => request,
                        None => return,
                    },
                    () = stop.cancelled() => return,
                };
                let request_id = request.request_id;
                let kind = request.command.and_then(|c| c.kind);
                let handled = handle(kind, &registry, &custom).await;
                let reply = |ok, message: String, extra: BTreeMap<String, String>| {
                    let mut details: HashMap<String, String> = facts.clone().into_iter().collect();
                    details.extend(extra);
                    StepRequest::Reply(pb::ControlReply {
                        request_id,
                        ok,
                        message,
                        details,
                    })
                };
                let (to_session, shutting_down) = match handled {
                    Handled::Answer(ok, message, extra) => (reply(ok, message, extra), false),
                    Handled::ShutDown => {
                        let answer = reply(true, "shutting down warm".into(), BTreeMap::new());
                        (answer, true)
                    }
                    Handled::Session(change) => {
                        (StepRequest::Reconfigure { request_id, change }, false)
                    }
                };
                // The answer is queued first: the session sends what is queued before it closes.
                if session.send(to_session).await.is_err() {
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

/// What to do with a command of `kind`.
async fn handle(kind: Option<Kind>, registry: &Registry, custom: &ControlCommands) -> Handled {
    let answer = |ok, message: String| Handled::Answer(ok, message, BTreeMap::new());
    match kind {
        Some(Kind::Ping(_)) => answer(true, "pong".into()),
        Some(Kind::Shutdown(_)) => Handled::ShutDown,
        Some(Kind::TimeLimit(limit)) => time_limit(registry, &limit),
        Some(Kind::AddConsumer(add)) => Handled::Session(Reconfigure::AddConsumer(add.queue)),
        Some(Kind::CancelConsumer(cancel)) => {
            Handled::Session(Reconfigure::CancelConsumer(cancel.queue))
        }
        Some(Kind::PoolGrow(grow)) => Handled::Session(Reconfigure::PoolGrow(grow.slots)),
        Some(Kind::PoolShrink(shrink)) => Handled::Session(Reconfigure::PoolShrink(shrink.slots)),
        Some(Kind::Custom(command)) => {
            run_custom(custom, command.name, command.args.into_iter().collect()).await
        }
        None => answer(
            false,
            "unknown command; this worker knows ping, shutdown, time_limit, add_consumer, \
             cancel_consumer, pool_grow, pool_shrink and custom"
                .into(),
        ),
    }
}

/// Changes a task type's time limits for the attempts that start from now on.
fn time_limit(registry: &Registry, limit: &pb::TimeLimit) -> Handled {
    let ms = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    let limits = TimeLimits {
        soft: ms(limit.soft_ms),
        hard: ms(limit.hard_ms),
    };
    if !registry.change_time_limits(&limit.task_name, limits) {
        let message = format!(
            "no handler for task {:?} in this worker (it runs: {})",
            limit.task_name,
            registry.names().join(", ")
        );
        return Handled::Answer(false, message, BTreeMap::new());
    }
    let shown = |d: Option<Duration>| d.map_or_else(|| "the worker's".into(), |d| format!("{d:?}"));
    tracing::info!(task = %limit.task_name, hard = ?limits.hard, soft = ?limits.soft, "time limits changed by a control command");
    Handled::Answer(
        true,
        format!(
            "time limits of {:?} are now hard {}, soft {}",
            limit.task_name,
            shown(limits.hard),
            shown(limits.soft)
        ),
        BTreeMap::new(),
    )
}

/// Runs a user-defined command on a blocking thread (its handler is plain code, and may block
/// briefly); a panic in it is an answer, not the end of the control step.
async fn run_custom(custom: &ControlCommands, name: String, args: CommandArgs) -> Handled {
    let Some(handler) = custom.get(&name) else {
        let known = custom.names().join(",");
        let listed = if known.is_empty() {
            "none"
        } else {
            known.as_str()
        };
        let message = format!("no control command {name:?} in this worker (it knows: {listed})");
        let details = BTreeMap::from([("commands".to_string(), known.clone())]);
        return Handled::Answer(false, message, details);
    };
    match tokio::task::spawn_blocking(move || handler(&args)).await {
        Ok(Ok(reply)) => Handled::Answer(true, reply.message, reply.details),
        Ok(Err(why)) => Handled::Answer(false, why, BTreeMap::new()),
        Err(_) => Handled::Answer(
            false,
            format!("the handler of control command {name:?} panicked"),
            BTreeMap::new(),
        ),
    }
}
