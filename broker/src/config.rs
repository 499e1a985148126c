//! Broker settings: defaults, and the checks that run before any part of the broker sees them.

use std::path::PathBuf;
use std::time::Duration;

/// When an Enqueue, Ack, Nack, Revoke or admin change is acknowledged to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the change is flushed to disk (group commit). `kill -9` loses nothing that was
    /// acknowledged.
    #[default]
    Sync,
    /// At once; sled flushes in the background every `flush_every`. A crash (of the process or
    /// the machine) can lose changes acknowledged within the last `flush_every`.
    Fast,
}

/// How long the running leases of a worker whose session broke are kept for it to reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionGrace {
    /// Released after this long unless the same worker reconnects; zero releases at once.
    After(#[serde(with = "millis")] Duration),
    /// Kept until the lease deadlines, as a visibility timeout would.
    UntilDeadline,
}

impl std::str::FromStr for SessionGrace {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "deadline" => Ok(Self::UntilDeadline),
            other => stalk_proto::duration::parse_duration(other)
                .map(Self::After)
                .map_err(|e| format!("{e}; or `deadline` to keep them until the lease ends")),
        }
    }
}

/// Everything the broker can be told.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    /// Where sled keeps its files.
    pub data_dir: PathBuf,
    /// When writes are acknowledged.
    pub durability: Durability,
    /// How long results of finished tasks are kept (dead letters are kept until handled).
    #[serde(with = "millis")]
    pub result_ttl: Duration,
    /// A READY task counts one priority higher per this long it waits, so low priorities never
    /// starve behind a stream of high ones; zero turns aging off.
    #[serde(with = "millis")]
    pub priority_aging: Duration,
    /// Largest task payload or result value accepted, bytes.
    pub max_payload_bytes: usize,
    /// When set, every RPC but health needs `authorization: Bearer <token>`.
    #[serde(skip)]
    pub auth_token: Option<String>,
    /// PEM certificate chain and key files; when set the broker serves TLS only.
    pub tls: Option<TlsFiles>,
    /// How long a graceful shutdown may take before open calls are cut.
    #[serde(with = "millis")]
    pub shutdown_timeout: Duration,
    /// sled's page cache, bytes.
    pub cache_bytes: u64,
    /// New tasks are refused while less than this many bytes are free on the data directory's
    /// file system, so a full disk can drain (acks and deletes still go through) instead of
    /// failing sled; a broker whose disk filled anyway reopens its store once this much is free
    /// again. 0 turns the check off.
    pub min_free_space: u64,
    /// Start on a data directory that lost acknowledged writes (its files cut, damaged, or
    /// restored without their commit mark) with what could be recovered, logging the loss,
    /// instead of refusing to start.
    pub accept_data_loss: bool,
    /// Serve Prometheus metrics on `/metrics` and the web dashboard on `/` of this HOST:PORT;
    /// `None`: no HTTP listener.
    pub metrics_listen: Option<String>,
    /// sled's background flush interval.
    #[serde(with = "millis")]
    pub flush_every: Duration,
    /// Reconnect grace for the running leases of a worker whose session broke.
    pub session_grace: SessionGrace,
    /// A worker session that sends nothing for this long is treated as broken.
    #[serde(with = "millis")]
    pub worker_silence: Duration,
    /// Most events the event stream keeps for watchers that resume (and task histories).
    pub event_retention_count: u64,
    /// Events older than this are removed from the event stream.
    #[serde(with = "millis")]
    pub event_retention_age: Duration,
}

/// TLS certificate and key files (PEM).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Events kept by default: minutes of a busy broker, tens of MB on disk.
pub const DEFAULT_EVENT_RETENTION_COUNT: u64 = 100_000;
/// How long events are kept by default.
pub const DEFAULT_EVENT_RETENTION_AGE: Duration = Duration::from_secs(60 * 60);
/// Default directory for the data, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "stalk-data";
/// Default results time-to-live: 24 hours.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default priority aging: one level per minute waited, so a priority-0 task goes ahead of fresh
/// priority-9 ones after nine minutes.
pub const DEFAULT_PRIORITY_AGING: Duration = Duration::from_secs(60);
/// Default payload limit: 1 MiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Default free-space watermark: 64 MiB, room for sled's next snapshot and a few large batches
/// written between two measurements.
pub const DEFAULT_MIN_FREE_SPACE: u64 = 64 << 20;
/// Largest payload limit that can be configured: 64 MiB.
pub const MAX_MAX_PAYLOAD_BYTES: usize = 64 << 20;

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            durability: Durability::Sync,
            result_ttl: DEFAULT_RESULT_TTL,
            priority_aging: DEFAULT_PRIORITY_AGING,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            auth_token: None,
            tls: None,
            shutdown_timeout: Duration::from_secs(10),
            cache_bytes: 32 << 20,
            min_free_space: DEFAULT_MIN_FREE_SPACE,
            accept_data_loss: false,
            metrics_listen: None,
            flush_every: Duration::from_millis(100),
            session_grace: SessionGrace::After(Duration::from_secs(1)),
            worker_silence: Duration::from_secs(30),
            event_retention_count: DEFAULT_EVENT_RETENTION_COUNT,
            event_retention_age: DEFAULT_EVENT_RETENTION_AGE,
        }
    }
}

/// A setting that cannot work, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {field}: {message}")]
pub struct ConfigError {
    /// The setting, as its flag name.
    pub field: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

impl Config {
    /// A config with its data in `data_dir` and every other setting at its default.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first setting that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, message: String| Err(ConfigError { field, message });
        if !self.priority_aging.is_zero() && self.priority_aging < Duration::from_millis(10) {
            return bad(
                "priority_aging",
                format!(
                    "{:?} is below 10ms; use 0 to turn aging off",
                    self.priority_aging
                ),
            );
        }
        if self.result_ttl < Duration::from_millis(100)
            || self.result_ttl > Duration::from_secs(365 * 86_400)
        {
            return bad(
                "result-ttl",
                format!("{:?} is outside 100ms..365d", self.result_ttl),
            );
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > MAX_MAX_PAYLOAD_BYTES {
            return bad(
                "max-payload-bytes",
                format!(
                    "{} is outside 1..={MAX_MAX_PAYLOAD_BYTES}",
                    self.max_payload_bytes
                ),
            );
        }
        if self
            .auth_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return bad(
                "auth-token",
                "the token is empty; give a non-empty token or none".into(),
            );
        }
        if self.shutdown_timeout.is_zero() {
            return bad("shutdown-timeout", "must be more than zero".into());
        }
        if self.worker_silence < Duration::from_millis(100) {
            return bad(
                "worker-silence",
                format!("{:?} is shorter than 100ms", self.worker_silence),
            );
        }
        if self.event_retention_count == 0 || self.event_retention_count > 1_000_000_000 {
            return bad(
                "event-retention-count",
                format!("{} is outside 1..=1000000000", self.event_retention_count),
            );
        }
        if self.event_retention_age < Duration::from_secs(1)
            || self.event_retention_age > Duration::from_secs(365 * 86_400)
        {
            return bad(
                "event-retention-age",
                format!("{:?} is outside 1s..365d", self.event_retention_age),
            );
        }
        if self.flush_every.is_zero() || self.flush_every > Duration::from_secs(60) {
            return bad(
                "flush-every",
                format!("{:?} is outside 1ms..60s", self.flush_every),
            );
        }
        Ok(())
    }
}

mod millis {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_grace_takes_the_shared_duration_syntax_or_deadline() {
        let parse = |text: &str| text.parse::<SessionGrace>();
        assert_eq!(parse("deadline"), Ok(SessionGrace::UntilDeadline));
        assert_eq!(parse("0"), Ok(SessionGrace::After(Duration::ZERO)));
        assert_eq!(parse("2"), Ok(SessionGrace::After(Duration::from_secs(2))));
        assert_eq!(
            parse("1m30s"),
            Ok(SessionGrace::After(Duration::from_secs(90)))
        );
        let err = parse("soon").unwrap_err();
        assert!(
            err.contains("500ms, 10s") && err.contains("deadline"),
            "{err}"
        );
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    #[test]
    fn out_of_range_settings_name_their_flag() {
        let config = Config {
            max_payload_bytes: 0,
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.field, "max-payload-bytes");
        let config = Config {
            auth_token: Some("  ".into()),
            ..Config::default()
        };
        assert_eq!(config.validate().unwrap_err().field, "auth-token");
    }
}
