//! `stalk top`: a live terminal view of the broker, as `htop` is of a machine: queues (depth
//! per state, tasks in and out per second, wait and run latency, the oldest ready task),
//! workers (busy, held, done, last heard from) and recent failures, with keys to sort,
//! filter and open a task (see `input` for the keys).
//!
//! # Layout
//! - `model`: the [`App`](model::App) state: snapshot, per-queue windows, failures,
//!   selection, sort, filter, the open task. Plain data; callers pass the time.
//! - `window`: one queue's recent traffic reduced to rates and latency percentiles.
//! - `input`: keys to changes of the state and [`Command`](input::Command)s for the runner.
//! - `view`: the state drawn into a ratatui frame.
//! - `feed`: the poll, the event stream and task details, each a task sending updates.
//! - `runner`: the terminal (taken and given back) and the loop that owns the state.

mod feed;
mod input;
mod model;
mod runner;
mod view;
mod window;

#[cfg(test)]
mod tests;

use std::io::IsTerminal as _;
use std::time::Duration;

use clap::Args;

use crate::args::ConnArgs;
use crate::commands::connect;
use crate::exit::CliError;
use crate::parse::parse_positive_duration;

/// `stalk top`.
#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// How often to ask the broker for queue depths and workers (events arrive as they
    /// happen).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_positive_duration)]
    pub(crate) interval: Duration,
    /// Only this queue (its tasks, events and the workers serving it); repeat for more.
    #[arg(long = "queue", value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
}

/// Shows the live view until the user quits.
///
/// # Errors
/// A usage error when stdout is not a terminal or `--json` was given (scripts have
/// `stalk queues` and `stalk events`), a broker that cannot be reached at the start, and a
/// terminal that fails.
pub(crate) async fn run(conn: &ConnArgs, args: TopArgs, json: bool) -> anyhow::Result<()> {
    if json {
        return Err(CliError::Usage(
            "stalk top draws a terminal view and has no JSON output; use `stalk queues --json` \
             or `stalk events --json` in scripts"
                .into(),
        )
        .into());
    }
    if !std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "stalk top needs a terminal; use `stalk queues` / `stalk events` in scripts".into(),
        )
        .into());
    }
    // Connect before taking the screen, so a wrong address is one plain error line.
    let client = connect(conn).await?;
    runner::run(client, conn.clone(), args).await
}
