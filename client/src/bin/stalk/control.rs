//! `stalk control ping|shutdown|time-limit|add-consumer|cancel-consumer|pool-grow|pool-shrink|
//! custom`: a command broadcast to connected workers (or those named), their answers gathered
//! by the broker until the timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use stalk_client::{Client, WorkerCommand, WorkerReply};

use crate::commands::{emit, emit_json};
use crate::exit::CliError;
use crate::parse::{parse_duration, parse_positive_duration};

/// `stalk control …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ControlCommand {
    /// Ask workers to answer; shows each one's facts and round-trip time.
    Ping {
        /// Worker ids; every connected worker when none is given.
        #[arg(value_name = "WORKER")]
        workers: Vec<String>,
        /// How long to wait for the answers (at most 60s).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Ask workers to shut down warm: they take no new task and finish the running ones.
    Shutdown {
        /// Worker ids.
        #[arg(value_name = "WORKER", required_unless_present = "all")]
        workers: Vec<String>,
        /// Every connected worker.
        #[arg(long, conflicts_with = "workers")]
        all: bool,
        /// How long to wait for the answers (at most 60s).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Change a task type's time limits for the attempts that start from now on.
    TimeLimit {
        /// The task name, e.g. email.send.
        task: String,
        /// The hard limit: past it the attempt is stopped and fails.
        #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
        hard: Duration,
        /// The soft limit: past it the handler is told (at most the hard limit). Default: the
        /// worker's.
        #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
        soft: Option<Duration>,
        #[command(flatten)]
        to: Targets,
    },
    /// Start taking tasks from one more queue.
    AddConsumer {
        /// The queue.
        queue: String,
        #[command(flatten)]
        to: Targets,
    },
    /// Stop taking new tasks from a queue; those a worker already holds still run there.
    CancelConsumer {
        /// The queue.
        queue: String,
        #[command(flatten)]
        to: Targets,
    },
    /// Run N more tasks at once (a pool has at most 1024 slots).
    PoolGrow {
        /// Slots to add.
        #[arg(value_name = "N")]
        slots: u32,
        #[command(flatten)]
        to: Targets,
    },
    /// Run N fewer tasks at once (at least 1 slot is kept); running tasks finish.
    PoolShrink {
        /// Slots to remove.
        #[arg(value_name = "N")]
        slots: u32,
        #[command(flatten)]
        to: Targets,
    },
    /// Run a command the worker's code registered (WorkerBuilder::control_command).
    Custom {
        /// The command's name.
        name: String,
        /// An argument for it; repeat for more.
        #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_arg)]
        args: Vec<(String, String)>,
        #[command(flatten)]
        to: Targets,
    },
}

/// Which workers to ask, and how long to wait for them.
#[derive(Debug, Args)]
pub(crate) struct Targets {
    /// A worker id to ask; repeat for more. Every connected worker when none is given.
    #[arg(long = "worker", value_name = "WORKER")]
    workers: Vec<String>,
    /// How long to wait for the answers (at most 60s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
}

/// Parses `--arg KEY=VALUE`.
fn parse_arg(input: &str) -> Result<(String, String), String> {
    match input.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "invalid argument '{input}': use key=value, e.g. level=debug"
        )),
    }
}

/// Sends the command and prints every answer; fails when a worker did not answer or did not
/// do what was asked, or none is connected.
pub(crate) async fn run(
    client: &Client,
    command: ControlCommand,
    json: bool,
) -> anyhow::Result<()> {
    let (command, Targets { workers, timeout }) = match command {
        ControlCommand::Ping { workers, timeout } => {
            (WorkerCommand::Ping, Targets { workers, timeout })
        }
        ControlCommand::Shutdown {
            workers, timeout, ..
        } => (WorkerCommand::Shutdown, Targets { workers, timeout }),
        ControlCommand::TimeLimit {
            task,
            hard,
            soft,
            to,
        } => (
            WorkerCommand::TimeLimit {
                task_name: task,
                hard,
                soft,
            },
            to,
        ),
        ControlCommand::AddConsumer { queue, to } => (WorkerCommand::AddConsumer(queue), to),
        ControlCommand::CancelConsumer { queue, to } => (WorkerCommand::CancelConsumer(queue), to),
        ControlCommand::PoolGrow { slots, to } => (WorkerCommand::PoolGrow(slots), to),
        ControlCommand::PoolShrink { slots, to } => (WorkerCommand::PoolShrink(slots), to),
        ControlCommand::Custom { name, args, to } => {
            let args: BTreeMap<String, String> = args.into_iter().collect();
            (WorkerCommand::Custom { name, args }, to)
        }
    };
    let ids: Vec<&str> = workers.iter().map(String::as_str).collect();
    let replies = client.control_workers(&ids, command, timeout).await?;
    if json {
        emit_json(&Value::Array(replies.iter().map(reply_json).collect()))?;
    } else {
        emit(&replies_table(&replies))?;
    }
    if replies.is_empty() {
        return Err(CliError::NoAnswer {
            workers: Vec::new(),
        }
        .into());
    }
    let silent: Vec<String> = replies
        .iter()
        .filter(|r| r.latency.is_none())
        .map(|r| r.worker_id.clone())
        .collect();
    if !silent.is_empty() {
        return Err(CliError::NoAnswer { workers: silent }.into());
    }
    let declined: Vec<String> = replies
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("worker {}: {}", r.worker_id, r.message))
        .collect();
    if !declined.is_empty() {
        return Err(CliError::Declined { answers: declined }.into());
    }
    Ok(())
}

fn reply_json(r: &WorkerReply) -> Value {
    json!({
        "worker_id": r.worker_id,
        "ok": r.ok,
        "message": r.message,
        "details": r.details,
        "latency_ms": r.latency.map(|l| l.as_secs_f64() * 1000.0),
    })
}

fn replies_table(replies: &[WorkerReply]) -> String {
    let mut table = crate::table::Table::new(&["WORKER", "OK", "ANSWER", "LATENCY", "DETAILS"]);
    for r in replies {
        let details: Vec<String> = r.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
        table.row(vec![
            r.worker_id.clone(),
            if r.ok { "yes" } else { "no" }.into(),
            r.message.clone(),
            r.latency.map_or_else(|| "-".into(), |l| format!("{l:?}")),
            details.join(" "),
        ]);
    }
    table.render()
}
