//! The command line: flags, commands and their help, as clap derives.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use stalk_client::TaskState;

use crate::control::ControlCommand;
use crate::exit;
use crate::parse::{parse_duration, parse_header, parse_json, parse_positive_duration, parse_time};

const ABOUT: &str = "Command-line client for the stalk task queue: enqueue tasks, read results, \
                     inspect queues, handle dead letters.";

const LONG_ABOUT: &str = "\
Command-line client for the stalk task queue: enqueue tasks, read results, inspect queues,
handle dead letters.

Options that apply to every command (--addr, --token, --ca-cert, --json) go before or after
the command:
    stalk --addr broker:7070 queues --json

Durations are written 500ms, 10s, 5m, 1h, 2d or 1h30m; a plain number is seconds (the same
syntax as stalkd's and the workers' flags).";

/// `stalk [OPTIONS] <COMMAND>`.
#[derive(Debug, Parser)]
#[command(name = "stalk", version, about = ABOUT, long_about = LONG_ABOUT)]
#[command(after_long_help = exit::HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) conn: ConnArgs,

    /// Print one JSON document instead of text, for scripts.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the broker is and how to authenticate to it.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnArgs {
    /// The broker: host:port, http://host:port or https://host:port.
    #[arg(
        long,
        env = "STALK_ADDR",
        default_value = "127.0.0.1:7070",
        global = true
    )]
    pub(crate) addr: String,

    /// Bearer token sent on every call, if the broker requires one.
    #[arg(long, env = "STALK_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,

    /// PEM file of the CA that signed the broker's certificate; implies TLS.
    #[arg(long, env = "STALK_CA_CERT", value_name = "FILE", global = true)]
    pub(crate) ca_cert: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Enqueue a task and print its id.
    Enqueue(Box<EnqueueArgs>),
    /// Show a task's state, result or error, attempts and times.
    Result(ResultArgs),
    /// Show a task's state, and with --history every event it went through.
    Task(crate::events::TaskArgs),
    /// Say why a task is not running: its state and every reason that holds it.
    Explain {
        /// The task id.
        id: String,
    },
    /// Tail the event stream: every task state change, workers coming and going, schedules
    /// firing, limits changing. Resumes after a disconnect from the last event printed.
    Events(crate::events::EventsArgs),
    /// A live view of queues (depth, rates, latency, oldest task), workers and recent
    /// failures; keys sort, filter and open a task. Needs a terminal.
    Top(crate::top::TopArgs),
    /// Show task counts per queue, or pause and resume a queue.
    Queues {
        /// Pause or resume instead of listing.
        #[command(subcommand)]
        action: Option<QueueCommand>,
    },
    /// List the connected workers and what they run.
    Workers,
    /// Ask the broker's gRPC health service whether it serves; exit 0 if it does, 3 if it
    /// does not or cannot be reached (a container's health check).
    Health {
        /// A service's full name, e.g. `stalk.v1.TaskQueue`; the whole broker by default.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// What connected workers hold: `active` (running tasks), `reserved` (tasks waiting in
    /// their prefetch buffers), `registered` (task names they run), `stats` (counts).
    Inspect {
        /// What to show.
        #[arg(value_enum)]
        what: Inspect,
        /// Only this worker; repeat for more.
        #[arg(long = "worker", value_name = "WORKER")]
        workers: Vec<String>,
    },
    /// Rate limits per task name or queue, enforced by the broker across every worker.
    #[command(subcommand)]
    Limits(LimitCommand),
    /// Periodic schedules: add, apply a file, list, show, pause, resume, remove, next.
    #[command(subcommand)]
    Schedules(crate::schedules::ScheduleCommand),
    /// Workflows (chains, groups, chords): submit one from a JSON file, show one's tree.
    #[command(subcommand)]
    Workflow(crate::workflow::WorkflowCommand),
    /// Send a command to connected workers and show their answers.
    #[command(subcommand)]
    Control(ControlCommand),
    /// List the tasks of a queue in one state.
    Tasks(TasksArgs),
    /// Revoke tasks: waiting ones never run, prefetched ones are dropped, running ones are
    /// stopped; unknown ids and header values are refused if they arrive.
    Revoke {
        /// Task ids.
        #[arg(value_name = "ID", required_unless_present = "headers")]
        ids: Vec<String>,
        /// Revoke every task with this header value, and those that arrive with it; repeat
        /// for more.
        #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// How long unknown ids and header values are remembered (default 3h).
        #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
        remember: Option<Duration>,
    },
    /// Dead letters: the FAILED tasks of a queue.
    #[command(subcommand)]
    Dead(DeadCommand),
    /// Delete every waiting (ready, scheduled, retrying) task of a queue.
    Purge {
        /// The queue.
        queue: String,
    },
    /// Print a shell completion script: `stalk completions bash > /etc/bash_completion.d/stalk`,
    /// `stalk completions zsh > ~/.zfunc/_stalk`, `stalk completions fish >
    /// ~/.config/fish/completions/stalk.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `stalk enqueue`.
#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// The task type, e.g. email.send.
    pub(crate) name: String,

    /// The queue [default: default].
    #[arg(long)]
    pub(crate) queue: Option<String>,

    /// The payload as a JSON document, e.g. '{"to":"ada@example.com"}'.
    #[arg(long, value_name = "JSON", value_parser = parse_json, conflicts_with = "payload_file")]
    pub(crate) payload: Option<serde_json::Value>,

    /// Read the payload from this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) payload_file: Option<PathBuf>,

    /// The payload's media type; a JSON type is checked to be valid JSON.
    #[arg(long, default_value = stalk_client::JSON_CONTENT_TYPE, requires = "payload_file")]
    pub(crate) content_type: String,

    /// 0 (lowest, default) to 9 (highest).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub(crate) priority: Option<u8>,

    /// Run no earlier than this long from now.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "eta")]
    pub(crate) countdown: Option<Duration>,

    /// Run no earlier than this time: RFC 3339 or milliseconds since the Unix epoch.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) eta: Option<SystemTime>,

    /// The task EXPIRES if it has not completed this long from now.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub(crate) expires_in: Option<Duration>,

    /// Retries after a failed attempt [broker default: 3]; 0 fails on the first error.
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<u32>,

    /// The task id; enqueueing an existing id returns that task instead.
    #[arg(long)]
    pub(crate) id: Option<String>,

    /// At most one live task per queue holds this key.
    #[arg(long, value_name = "KEY")]
    pub(crate) unique_key: Option<String>,

    /// A header for the worker, key=value; repeat for more.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
    pub(crate) headers: Vec<(String, String)>,
}

/// What `stalk inspect` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Inspect {
    /// Tasks each worker runs now.
    Active,
    /// Tasks waiting in each worker's prefetch buffer.
    Reserved,
    /// Task names each worker has handlers for.
    Registered,
    /// Each worker's counts: running, reserved, completed this session, and its times.
    Stats,
}

/// `stalk queues pause|resume`.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Pause a queue, durably: it leases nothing, and its tasks waiting in workers' buffers do
    /// not start, until it is resumed. Running tasks finish.
    Pause {
        /// The queue.
        queue: String,
    },
    /// Resume a paused queue.
    Resume {
        /// The queue.
        queue: String,
    },
}

/// `stalk result`.
#[derive(Debug, Args)]
pub(crate) struct ResultArgs {
    /// The task id.
    pub(crate) id: String,

    /// Wait up to this long for the task to finish; then exit 1 unless it SUCCEEDED, 5 if it
    /// is still running.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) wait: Option<Duration>,
}

/// `stalk tasks`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which_queue").required(true).args(["queue", "queue_flag"])))]
pub(crate) struct TasksArgs {
    /// The queue.
    pub(crate) queue: Option<String>,

    /// The queue, as a flag (the same as the positional QUEUE).
    #[arg(long = "queue", value_name = "QUEUE")]
    pub(crate) queue_flag: Option<String>,

    /// The state to list: scheduled, ready, leased, retrying, succeeded, failed, revoked,
    /// expired or waiting.
    #[arg(long, default_value = "ready", value_parser = parse_listable_state)]
    pub(crate) state: TaskState,

    /// The most tasks to show (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: u32,

    /// Continue a listing: the token the previous page printed.
    #[arg(long, value_name = "TOKEN")]
    pub(crate) page_token: Option<String>,
}

impl TasksArgs {
    /// The queue, given as the positional QUEUE or as --queue (the parser requires one).
    pub(crate) fn queue(&self) -> &str {
        self.queue
            .as_deref()
            .or(self.queue_flag.as_deref())
            .unwrap_or_default()
    }
}

/// `stalk limits …`.
#[derive(Debug, Subcommand)]
pub(crate) enum LimitCommand {
    /// Set a limit, or change the one of the same scope and header: settings not given keep
    /// their value (a rate without --burst takes the default burst); --replace drops them.
    /// `stalk limits set task:email.send 10/s --burst 20`,
    /// `stalk limits set queue:mail --concurrency 5 --per tenant`.
    #[command(group(
        clap::ArgGroup::new("allows").required(true).multiple(true).args(["rate", "concurrency"])
    ))]
    Set {
        /// task:NAME or queue:NAME.
        scope: String,
        /// Tasks per period: 10/s, 100/m, 1000/h or 5000/d.
        rate: Option<String>,
        /// Tasks that may start at once after a quiet spell [default: one period's worth].
        #[arg(long, requires = "rate")]
        burst: Option<u32>,
        /// Most tasks running (leased) at once.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        concurrency: Option<u32>,
        /// One limit for each value of this header (e.g. tenant).
        #[arg(long, value_name = "HEADER")]
        per: Option<String>,
        /// Replace the limit: a rate or cap not given here is removed.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a limit.
    Remove {
        /// task:NAME or queue:NAME.
        scope: String,
        /// The header of a keyed limit.
        #[arg(long, value_name = "HEADER")]
        per: Option<String>,
    },
    /// List the limits.
    List,
}

/// `stalk dead …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DeadCommand {
    /// List the dead letters of a queue with their errors.
    List {
        /// The queue.
        #[arg(long)]
        queue: String,
        /// The most dead letters to show.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
    /// Put dead letters back to READY with a fresh retry budget.
    Replay {
        /// The queue.
        #[arg(long)]
        queue: String,
        /// Only these task ids [default: all].
        #[arg(value_name = "ID")]
        ids: Vec<String>,
        /// Replay at most this many.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
    },
    /// Delete every dead letter of a queue.
    Purge {
        /// The queue.
        #[arg(long)]
        queue: String,
    },
}

/// A [`TaskState`] that can be listed: every state but UNKNOWN.
fn parse_listable_state(input: &str) -> Result<TaskState, String> {
    match input.parse::<TaskState>() {
        Ok(TaskState::Unknown) => Err("UNKNOWN tasks cannot be listed".to_owned()),
        Ok(state) => Ok(state),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_precede_the_command() {
        let cli = Cli::try_parse_from([
            "stalk",
            "--addr",
            "broker:1",
            "--json",
            "enqueue",
            "email.send",
            "--payload",
            "{}",
            "--header",
            "a=1",
            "--header",
            "b=2",
            "--countdown",
            "10s",
        ])
        .expect("valid command line");
        assert_eq!(cli.conn.addr, "broker:1");
        assert!(cli.json, "--json before the command selects JSON output");
        let Command::Enqueue(args) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.payload, Some(serde_json::json!({})));
        assert_eq!(args.headers.len(), 2);
        assert_eq!(args.countdown, Some(Duration::from_secs(10)));
    }

    #[test]
    fn global_options_follow_the_command_too() {
        let cli = Cli::try_parse_from(["stalk", "queues", "--json", "--addr", "broker:1"])
            .expect("valid command line");
        assert!(cli.json, "--json after the command selects JSON output");
        assert_eq!(cli.conn.addr, "broker:1");
    }

    #[test]
    fn usage_errors_are_caught_by_the_parser() {
        for line in [
            &["stalk", "enqueue", "t", "--priority", "10"][..],
            &["stalk", "enqueue", "t", "--countdown", "1s", "--eta", "1"],
            &[
                "stalk",
                "enqueue",
                "t",
                "--payload",
                "{}",
                "--payload-file",
                "f",
            ],
            &["stalk", "tasks", "--queue", "q", "--state", "unknown"],
            &["stalk", "revoke"],
            &["stalk", "tasks"],
            &["stalk", "tasks", "q", "--queue", "q"],
            &["stalk", "enqueue", "t", "--expires-in", "0s"],
        ] {
            let err = Cli::try_parse_from(line).expect_err(&line.join(" "));
            assert_eq!(
                err.exit_code(),
                i32::from(exit::USAGE),
                "{}",
                line.join(" ")
            );
        }
    }
}
