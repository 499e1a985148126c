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

use crate::worker::{
    Worker, WorkerBuilder, DEFAULT_CONCURRENCY, DEFAULT_HEARTBEAT, DEFAULT_LEASE,
    DEFAULT_SHUTDOWN_TIMEOUT,
};

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
    /// A stable id for this worker; default `hostname-pid`.
    #[arg(long, env = "STALK_WORKER_ID")]
    pub worker_id: Option<String>,
    /// The broker's auth token.
    #[arg(long, env = "STALK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
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
}

impl WorkerArgs {
    /// A builder with these settings; register the tasks on it.
    pub fn builder(self) -> WorkerBuilder {
        let mut builder = Worker::builder(self.addr)
            .queues(self.queues)
            .concurrency(self.concurrency)
            .lease_duration(self.lease)
            .shutdown_timeout(self.shutdown_timeout)
            .heartbeat(self.heartbeat);
        if let Some(id) = self.worker_id {
            builder = builder.worker_id(id);
        }
        if let Some(token) = self.token {
            builder = builder.auth_token(token);
        }
        if let Some(limit) = self.soft_time_limit {
            builder = builder.soft_time_limit(limit);
        }
        if let Some(limit) = self.time_limit {
            builder = builder.time_limit(limit);
        }
        builder
    }
}

// Defaults shown by clap must match the builder's.
const _: () = {
    assert!(DEFAULT_LEASE.as_secs() == 30);
    assert!(DEFAULT_SHUTDOWN_TIMEOUT.as_secs() == 30);
    assert!(DEFAULT_HEARTBEAT.as_secs() == 10);
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
        ])
        .expect("valid flags");
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
}
