//! A ready-made command line for worker binaries: every setting as a flag with a `STALK_*`
//! environment twin. Durations use the syntax of every stalk binary
//! ([`stalk_proto::duration`]: `30s`, `1h30m`, a bare number of seconds).
//!
//! [`worker_args!`](crate::worker_args) parses the command line with the program's own name
//! and version (`my-worker --version` prints `my-worker 1.2.0`, not the SDK's), and needs no
//! clap dependency in the program:
//!
//! ```no_run
//! use stalk_worker::TaskError;
//!
//! # async fn demo() -> Result<(), stalk_worker::WorkerError> {
//! let worker = stalk_worker::worker_args!()
//!     .builder()
//!     .task("add", |(a, b): (i64, i64)| async move { Ok::<_, TaskError>(a + b) })
//!     .connect()
//!     .await?;
//! worker.run_until_signal().await
//! # }
//! ```

use std::ffi::OsString;
use std::time::Duration;

use clap::{CommandFactory as _, FromArgMatches as _};
use stalk_proto::duration::parse_duration;

use crate::builder::{
    WorkerBuilder, DEFAULT_CONCURRENCY, DEFAULT_HEARTBEAT, DEFAULT_LEASE, DEFAULT_PREFETCH_LEASE,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
use crate::logging::LogFormat;
use crate::pool::PoolKind;
use crate::worker::Worker;

/// Worker settings from flags and the environment (flags win).
///
/// Parse them with [`worker_args!`](crate::worker_args) or [`WorkerArgs::parse_for`]; a program
/// with a clap command line of its own can `#[command(flatten)]` them (clap is re-exported as
/// `stalk_worker::clap`, but its derive macros need `clap` as a dependency of the program).
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "A stalk worker")]
pub struct WorkerArgs {
    /// The broker: `host:port` or a URL.
    #[arg(long, env = "STALK_ADDR", default_value = "127.0.0.1:7070")]
    pub addr: String,
    /// Queues to take tasks from, in order (comma-separated).
    #[arg(
        long,
        env = "STALK_QUEUES",
        value_delimiter = ',',
        default_value = "default"
    )]
    pub queues: Vec<String>,
    /// Tasks run at once.
    #[arg(long, env = "STALK_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: u32,
    /// Tasks the broker may push beyond the free slots: they start the moment a slot frees.
    /// Default: 3 × the concurrency.
    #[arg(long, env = "STALK_PREFETCH")]
    pub prefetch: Option<u32>,
    /// How long a pushed task may wait for a free slot before the broker takes it back.
    #[arg(long, env = "STALK_PREFETCH_LEASE", default_value = "2s", value_parser = parse_duration)]
    pub prefetch_lease: Duration,
    /// A stable id for this worker; default `hostname-pid`.
    #[arg(long, env = "STALK_WORKER_ID")]
    pub worker_id: Option<String>,
    /// The broker's auth token.
    #[arg(long, env = "STALK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Connect with TLS, trusting only this CA certificate (PEM file).
    #[arg(long, env = "STALK_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// The lease of a running task (extended while it runs).
    #[arg(long, env = "STALK_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub lease: Duration,
    /// Default soft time limit of an attempt.
    #[arg(long, env = "STALK_SOFT_TIME_LIMIT", value_parser = parse_duration)]
    pub soft_time_limit: Option<Duration>,
    /// Default hard time limit of an attempt.
    #[arg(long, env = "STALK_TIME_LIMIT", value_parser = parse_duration)]
    pub time_limit: Option<Duration>,
    /// How long running tasks may finish after SIGTERM before they are stopped.
    #[arg(long, env = "STALK_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// How often an idle worker tells the broker it is alive.
    #[arg(long, env = "STALK_HEARTBEAT", default_value = "10s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Where tasks run: tokio tasks, blocking threads, or child processes.
    #[arg(long, env = "STALK_POOL", value_enum, default_value_t = PoolKind::Async)]
    pub pool: PoolKind,
    /// Prefork: replace a child after it ran this many tasks.
    #[arg(long, env = "STALK_MAX_TASKS_PER_CHILD", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tasks_per_child: Option<u32>,
    /// Prefork: replace a child after its task once its memory (RSS) passes this, e.g. `200MiB`.
    #[arg(long, env = "STALK_MAX_MEMORY_PER_CHILD", value_parser = bytes)]
    pub max_memory_per_child: Option<u64>,
    /// Prefork: kill a child at once when its memory (RSS) passes this; its task is lost.
    #[arg(long, env = "STALK_MAX_MEMORY_PER_CHILD_HARD", value_parser = bytes)]
    pub max_memory_per_child_hard: Option<u64>,
    /// Prefork: replace a child after its task once it is this old, e.g. `1h`.
    #[arg(long, env = "STALK_MAX_CHILD_AGE", value_parser = parse_duration)]
    pub max_child_age: Option<Duration>,
    /// Serve Prometheus metrics on /metrics of this HOST:PORT (e.g. 127.0.0.1:9465; port 0
    /// picks one, logged as `metrics listening on ADDR`). Off unless given.
    #[arg(long, env = "STALK_METRICS_LISTEN", value_parser = parse_listen)]
    pub metrics_listen: Option<String>,
    /// Log lines as human-readable text or one JSON object per line (see [`crate::init_logging`]).
    #[arg(long, env = "STALK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

/// A size such as `200MiB`, `1.5GB` or `1048576`.
fn bytes(text: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = text.parse()?;
    match size.as_u64() {
        0 => Err("a memory limit must be more than 0".into()),
        n => Ok(n),
    }
}

/// Checks that a listen address is HOST:PORT; the host is resolved when the worker binds.
fn parse_listen(text: &str) -> Result<String, String> {
    let port = text
        .rsplit_once(':')
        .map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
    match port {
        Some((false, Ok(_))) => Ok(text.to_owned()),
        _ => Err(format!(
            "'{text}' is not HOST:PORT; e.g. 127.0.0.1:9465, localhost:9465, [::1]:9465 or \
             0.0.0.0:0 (port 0 picks a free port)"
        )),
    }
}

/// Parses the worker flags from the command line and `STALK_*` variables, with the calling
/// program's package name (its binary's name, in a binary) and version for `--help` and
/// `--version`. On a usage error, `--help` or `--version` it prints and exits (2 for a usage
/// error), as clap does.
///
/// ```no_run
/// let args: stalk_worker::WorkerArgs = stalk_worker::worker_args!();
/// ```
#[macro_export]
macro_rules! worker_args {
    () => {
        $crate::WorkerArgs::parse_for(
            match ::std::option_env!("CARGO_BIN_NAME") {
                ::std::option::Option::Some(name) => name,
                ::std::option::Option::None => ::std::env!("CARGO_PKG_NAME"),
            },
            ::std::env!("CARGO_PKG_VERSION"),
        )
    };
}

impl WorkerArgs {
    /// Parses the command line and environment for the program `name` at `version`, which
    /// `--help` and `--version` show; see [`worker_args!`](crate::worker_args), which passes the
    /// calling crate's. On a usage error, `--help` or `--version` it prints and exits (2 for a
    /// usage error).
    pub fn parse_for(name: &'static str, version: &'static str) -> Self {
        Self::try_parse_for(name, version, std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `args` (the first is the program's path) and the environment for the program
    /// `name` at `version`.
    ///
    /// # Errors
    /// A [`clap::Error`] for a usage error, and for `--help` and `--version` (whose text is the
    /// error's rendering; `err.exit()` prints it).
    pub fn try_parse_for<I, T>(
        name: &'static str,
        version: &'static str,
        args: I,
    ) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command().name(name).version(version);
        let matches = command.try_get_matches_from_mut(args)?;
        Self::from_arg_matches(&matches).map_err(|err| err.format(&mut command))
    }

    /// A builder with these settings; register the tasks on it.
    pub fn builder(self) -> WorkerBuilder {
        let mut builder = Worker::builder(self.addr)
            .queues(self.queues)
            .concurrency(self.concurrency)
            .prefetch_lease(self.prefetch_lease)
            .lease_duration(self.lease)
            .shutdown_timeout(self.shutdown_timeout)
            .heartbeat(self.heartbeat)
            .pool(self.pool);
        if let Some(id) = self.worker_id {
            builder = builder.worker_id(id);
        }
        if let Some(token) = self.token {
            builder = builder.auth_token(token);
        }
        if let Some(path) = self.ca_cert {
            builder = builder.tls_ca_file(path);
        }
        if let Some(limit) = self.soft_time_limit {
            builder = builder.soft_time_limit(limit);
        }
        if let Some(limit) = self.time_limit {
            builder = builder.time_limit(limit);
        }
        if let Some(tasks) = self.prefetch {
            builder = builder.prefetch(tasks);
        }
        if let Some(tasks) = self.max_tasks_per_child {
            builder = builder.max_tasks_per_child(tasks);
        }
        if let Some(bytes) = self.max_memory_per_child {
            builder = builder.max_memory_per_child(bytes);
        }
        if let Some(bytes) = self.max_memory_per_child_hard {
            builder = builder.max_memory_per_child_hard(bytes);
        }
        if let Some(age) = self.max_child_age {
            builder = builder.max_child_age(age);
        }
        if let Some(listen) = self.metrics_listen {
            builder = builder.metrics_listen(listen);
        }
        builder
    }
}

// Defaults shown by clap must match the builder's.
const _: () = {
    assert!(DEFAULT_LEASE.as_secs() == 30);
    assert!(DEFAULT_SHUTDOWN_TIMEOUT.as_secs() == 30);
    assert!(DEFAULT_HEARTBEAT.as_secs() == 10);
    assert!(DEFAULT_PREFETCH_LEASE.as_secs() == 2);
};

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn flags_parse_into_settings() {
        let args = WorkerArgs::try_parse_from([
            "worker",
            "--queues",
            "high,low",
            "--concurrency",
            "3",
            "--time-limit",
            "90s",
            "--pool",
            "prefork",
            "--max-tasks-per-child",
            "100",
            "--max-memory-per-child",
            "200MiB",
        ])
        .expect("valid flags");
        assert_eq!(args.pool, PoolKind::Prefork);
        assert_eq!(args.max_tasks_per_child, Some(100));
        assert_eq!(args.max_memory_per_child, Some(200 << 20));
        assert_eq!(args.queues, ["high", "low"]);
        assert_eq!(args.concurrency, 3);
        assert_eq!(args.time_limit, Some(Duration::from_secs(90)));
        assert_eq!(args.lease, Duration::from_secs(30));
        assert_eq!(
            args.metrics_listen, None,
            "metrics are off unless asked for"
        );
    }

    #[test]
    fn metrics_listen_takes_host_port_and_refuses_anything_else() {
        let args = WorkerArgs::try_parse_from(["worker", "--metrics-listen", "127.0.0.1:0"])
            .expect("valid flags");
        assert_eq!(args.metrics_listen.as_deref(), Some("127.0.0.1:0"));
        for bad in ["9465", ":9465", "localhost", "host:port"] {
            let err = WorkerArgs::try_parse_from(["worker", "--metrics-listen", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}: {err}");
            assert!(err.to_string().contains("HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_bad_duration_is_a_usage_error_naming_the_accepted_forms() {
        let err = WorkerArgs::try_parse_from(["worker", "--lease", "soon"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("--lease"), "{err}");
        assert!(err.to_string().contains("500ms, 10s"), "{err}");
    }

    #[test]
    fn durations_take_the_syntax_of_every_stalk_binary() {
        let args = WorkerArgs::try_parse_from(["worker", "--lease", "90", "--heartbeat", "1m30s"])
            .expect("valid flags");
        assert_eq!(
            args.lease,
            Duration::from_secs(90),
            "a bare number is seconds"
        );
        assert_eq!(args.heartbeat, Duration::from_secs(90));
    }

    #[test]
    fn version_and_help_name_the_application_not_the_sdk() {
        let err = WorkerArgs::try_parse_for("my-worker", "7.1.2", ["my-worker", "--version"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        assert_eq!(err.to_string(), "my-worker 7.1.2\n");
        let args =
            WorkerArgs::try_parse_for("my-worker", "7.1.2", ["my-worker", "--pool", "threads"])
                .expect("valid flags");
        assert_eq!(args.pool, PoolKind::Threads);
    }

    #[test]
    fn bad_pool_settings_are_usage_errors_naming_the_flag() {
        for (flag, value) in [
            ("--pool", "fork"),
            ("--max-memory-per-child", "200MB/s"),
            ("--max-memory-per-child", "0"),
            ("--max-tasks-per-child", "0"),
        ] {
            let err = WorkerArgs::try_parse_from(["worker", flag, value]).unwrap_err();
            assert!(err.to_string().contains(flag), "{flag} {value}: {err}");
        }
    }
}
