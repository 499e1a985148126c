//! `stalkd`'s flags: each has a `STALK_*` environment twin.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use stalk_broker::config;
use stalk_broker::Durability;
use stalk_proto::duration::parse_duration;

/// The stalk broker: durable task queues over gRPC.
#[derive(Debug, Parser)]
#[command(
    name = "stalkd",
    version,
    after_long_help = "Precedence: built-in defaults < STALK_* environment variables < flags.\n\n\
Durations are written 500ms, 10s, 5m, 1h, 2d or 1h30m; a plain number is seconds (the same\n\
syntax as the stalk CLI's and the workers' flags).\n\n\
Getting started:\n  stalkd                           # serves on 127.0.0.1:7070, data in ./stalk-data\n  \
stalk enqueue hello --json '{}'  # from another terminal\n  stalk queues\n  \
stalkd check --data-dir stalk-data  # check a stopped broker's data dir",
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Args {
    /// Something other than serving.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Address to listen on, HOST:PORT (a host name such as localhost resolves); port 0 picks
    /// a free port (printed at start).
    #[arg(long, env = "STALK_LISTEN", default_value = "127.0.0.1:7070", value_parser = parse_listen)]
    pub(crate) listen: String,
    /// Directory for the durable data (created if missing).
    #[arg(long, env = "STALK_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub(crate) data_dir: PathBuf,
    /// sync: acknowledge writes after they are flushed to disk; fast: at once (a crash can lose
    /// the last --flush-every of acknowledged writes).
    #[arg(long, env = "STALK_DURABILITY", value_enum, default_value_t = Durability::Sync)]
    pub(crate) durability: Durability,
    /// How long results of finished tasks are kept (e.g. 24h, 30m).
    #[arg(long, env = "STALK_RESULT_TTL", default_value = "24h", value_parser = parse_duration)]
    pub(crate) result_ttl: Duration,
    /// A ready task counts one priority higher per this long it waits, so low priorities never
    /// starve (e.g. 1m, 30s); 0 turns aging off.
    #[arg(long, env = "STALK_PRIORITY_AGING", default_value = "1m", value_parser = parse_duration)]
    pub(crate) priority_aging: Duration,
    /// Largest payload or result accepted, in bytes.
    #[arg(long, env = "STALK_MAX_PAYLOAD_BYTES", default_value_t = config::DEFAULT_MAX_PAYLOAD_BYTES)]
    pub(crate) max_payload_bytes: usize,
    /// Log format.
    #[arg(long, env = "STALK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub(crate) log_format: LogFormat,
    /// Require `authorization: Bearer <token>` on every RPC but health.
    #[arg(
        long,
        env = "STALK_AUTH_TOKEN",
        hide_env_values = true,
        conflicts_with = "auth_token_file"
    )]
    pub(crate) auth_token: Option<String>,
    /// Read the auth token from this file (first line).
    #[arg(long, env = "STALK_AUTH_TOKEN_FILE")]
    pub(crate) auth_token_file: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key, serve TLS only.
    #[arg(long, env = "STALK_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "STALK_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Longest graceful shutdown before open calls are cut.
    #[arg(long, env = "STALK_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(crate) shutdown_timeout: Duration,
    /// Async worker threads; default: one fewer than the cores (at least one).
    #[arg(long, env = "STALK_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) worker_threads: Option<u16>,
    /// How long the running tasks of a worker whose session broke stay leased for it to
    /// reconnect: a duration, 0 (release at once) or `deadline` (keep until the lease ends).
    #[arg(long, env = "STALK_SESSION_GRACE", default_value = "1s")]
    pub(crate) session_grace: stalk_broker::config::SessionGrace,
    /// A worker session that sends nothing for this long (no heartbeat) is treated as broken.
    #[arg(long, env = "STALK_WORKER_SILENCE", default_value = "30s", value_parser = parse_duration)]
    pub(crate) worker_silence: Duration,
    /// sled's page cache, MiB.
    #[arg(long, env = "STALK_CACHE_MIB", default_value_t = 32)]
    pub(crate) cache_mib: u64,
    /// Refuse new tasks while less than this is free on the data directory's disk (e.g. 64MiB,
    /// 1GiB); acks and deletes still go through, so a full disk drains. A broker whose disk
    /// filled anyway reopens its store once this much is free again. 0 turns it off.
    #[arg(long, env = "STALK_MIN_FREE_SPACE", default_value = "64MiB", value_parser = parse_size)]
    pub(crate) min_free_space: u64,
    /// Background flush interval (bounds what --durability fast can lose).
    #[arg(long, env = "STALK_FLUSH_EVERY", default_value = "100ms", value_parser = parse_duration)]
    pub(crate) flush_every: Duration,
    /// Start on a data directory that lost acknowledged writes (its files cut or damaged, or
    /// restored from an older copy) with what could be recovered, logging the loss, instead of
    /// refusing to start. Tasks acked in the lost writes run again; tasks enqueued in them are
    /// gone.
    #[arg(long, env = "STALK_ACCEPT_DATA_LOSS")]
    pub(crate) accept_data_loss: bool,
    /// Serve Prometheus metrics on /metrics and the web dashboard on / of this HOST:PORT (e.g.
    /// 127.0.0.1:9464; port 0 picks one, printed in the ready line). Off unless given.
    #[arg(long, env = "STALK_METRICS_LISTEN", value_parser = parse_listen)]
    pub(crate) metrics_listen: Option<String>,
    /// Most events the event stream keeps (for watchers that resume, and task histories);
    /// the oldest are removed first.
    #[arg(long, env = "STALK_EVENT_RETENTION_COUNT", default_value_t = stalk_broker::config::DEFAULT_EVENT_RETENTION_COUNT)]
    pub(crate) event_retention_count: u64,
    /// Events older than this are removed from the event stream.
    #[arg(long, env = "STALK_EVENT_RETENTION_AGE", default_value = "1h", value_parser = parse_duration)]
    pub(crate) event_retention_age: Duration,
}

/// What `stalkd` does instead of serving.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check the data dir of a stopped broker: counts by state and queue, and every problem
    /// (damaged files, lost acknowledged writes, records that do not decode, tasks without a
    /// payload). Exits 0 when it finds none, 1 when it does.
    Check(CheckArgs),
}

/// `stalkd check`'s flags.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The data directory to check.
    #[arg(long, env = "STALK_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub(crate) data_dir: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Checks that a listen address is HOST:PORT; the host is resolved when the broker binds.
fn parse_listen(text: &str) -> Result<String, String> {
    let port = text
        .rsplit_once(':')
        .map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
    match port {
        Some((false, Ok(_))) => Ok(text.to_owned()),
        _ => Err(format!(
            "'{text}' is not HOST:PORT; e.g. 127.0.0.1:7070, localhost:7070, [::1]:7070 or \
             0.0.0.0:0 (port 0 picks a free port)"
        )),
    }
}

/// A size in bytes: a plain number or with a unit (`512KiB`, `64MiB`, `1GB`).
fn parse_size(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("'{text}' is not a size ({e}); e.g. 64MiB, 512KiB, 1GiB or 0"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Args::command().debug_assert();
    }

    /// Issue 11 (B6): the README's settings table lists every flag and its environment twin.
    #[test]
    fn the_readme_lists_every_flag_and_variable() {
        let readme = include_str!("../../../../README.md");
        let table = readme
            .split("## Broker settings")
            .nth(1)
            .expect("README has a Broker settings section");
        for arg in Args::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version"].contains(&long) {
                continue;
            }
            assert!(table.contains(&format!("`--{long}`")), "--{long} missing");
            let env = arg.get_env().expect("every flag has an environment twin");
            let env = env.to_string_lossy();
            assert!(table.contains(&format!("`{env}`")), "{env} missing");
        }
    }

    #[test]
    fn sizes_take_a_unit_or_bytes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn listen_addresses_are_host_and_port() {
        for ok in [
            "127.0.0.1:7070",
            "localhost:0",
            "[::1]:7070",
            "stalk.internal:80",
        ] {
            assert_eq!(parse_listen(ok).as_deref(), Ok(ok));
        }
        for bad in ["localhost", ":7070", "localhost:http", "127.0.0.1:70000"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }
}
