//! A ready-made command line for worker binaries: every setting as a flag with a `STALK_*`
//! environment twin.
//!
//! ```no_run
//! use clap::Parser;
//! use stalk_worker::{TaskError, WorkerArgs};
//!
//! # async fn demo() -> Result<(), stalk_worker::WorkerError> {
//! let worker = WorkerArgs::parse()
//!     .builder()
//!     .task("add", |(a, b): (i64, i64)| async move { Ok::<_, TaskError>(a + b) })
//!     .connect()
//!     .await?;
//! worker.run_until_signal().await
//! # }
//! ```

use std::time::Duration;

use crate::builder::{
    WorkerBuilder, DEFAULT_CONCURRENCY, DEFAULT_HEARTBEAT, DEFAULT_LEASE, DEFAULT_PREFETCH_LEASE,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
use crate::logging::LogFormat;
use crate::pool::PoolKind;
use crate::worker::Worker;

/// Worker settings from flags and the environment (flags win).
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "A stalk worker", version)]
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
    #[arg(long, env = "STALK_PREFETCH_LEASE", default_value = "2s", value_parser = humantime::parse_duration)]
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
    #[arg(long, env = "STALK_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub lease: Duration,
    /// Default soft time limit of an attempt.
    #[arg(long, env = "STALK_SOFT_TIME_LIMIT", value_parser = humantime::parse_duration)]
    pub soft_time_limit: Option<Duration>,
    /// Default hard time limit of an attempt.
    #[arg(long, env = "STALK_TIME_LIMIT", value_parser = humantime::parse_duration)]
    pub time_limit: Option<Duration>,
    /// How long running tasks may finish after SIGTERM before they are stopped.
    #[arg(long, env = "STALK_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// How often an idle worker tells the broker it is alive.
    #[arg(long, env = "STALK_HEARTBEAT", default_value = "10s", value_parser = humantime::parse_duration)]
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
    #[arg(long, env = "STALK_MAX_CHILD_AGE", value_parser = humantime::parse_duration)]
    pub max_child_age: Option<Duration>,
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

impl WorkerArgs {
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
    }

    #[test]
    fn a_bad_duration_is_a_usage_error() {
        let err = WorkerArgs::try_parse_from(["worker", "--lease", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--lease"), "{err}");
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
