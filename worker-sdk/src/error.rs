//! What a handler returns when it fails, what running a worker can fail with, and what a step
//! fails with: a leaf that imports nothing of the worker.

use std::time::Duration;

/// A handler's failure: retried (with the task's backoff, or after `countdown`) while retries
/// are left, or fatal (straight to the dead-letter set).
///
/// `?` works on any [`std::error::Error`] in a handler: the error becomes a retryable failure
/// whose kind is the error's Rust type (as [`std::any::type_name`] spells it, e.g.
/// `std::io::error::Error`) and whose message is the error and its sources. Say otherwise with
/// [`TaskError::fatal_from`] (`.map_err(TaskError::fatal_from)?`) or a [`crate::RetryPolicy`].
///
/// It does not implement [`std::error::Error`] itself: that would make the blanket `From`
/// conflict with `From<TaskError> for TaskError` (anyhow's `Error` has the same trade-off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// Worth another attempt.
    Retry {
        /// The error type, e.g. `IOError`.
        kind: String,
        /// What went wrong.
        message: String,
        /// Retry after this long instead of the task's backoff.
        countdown: Option<Duration>,
    },
    /// Not worth another attempt.
    Fatal {
        /// The error type.
        kind: String,
        /// What went wrong.
        message: String,
    },
}

impl TaskError {
    /// A retryable error.
    pub fn retry(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Retry {
            kind: kind.into(),
            message: message.into(),
            countdown: None,
        }
    }

    /// A fatal error.
    pub fn fatal(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Fatal {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// A fatal error from `error`, with the kind and message `?` would give it.
    pub fn fatal_from<E: std::error::Error + 'static>(error: E) -> Self {
        Self::fatal(std::any::type_name::<E>(), chain(&error))
    }

    /// The error type, e.g. `IOError` or `std::io::error::Error`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Retry { kind, .. } | Self::Fatal { kind, .. } => kind,
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        match self {
            Self::Retry { message, .. } | Self::Fatal { message, .. } => message,
        }
    }
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    fn from(error: E) -> Self {
        Self::retry(std::any::type_name::<E>(), chain(&error))
    }
}

/// `error` and its sources, as one line: `outer: inner: root` (a source that says what the
/// one before it said, as hyper's do, is said once).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut line = said.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if text != said {
            line.push_str(": ");
            line.push_str(&text);
        }
        said = text;
        source = cause.source();
    }
    line
}

/// Why a worker could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The broker could not be reached (within the wait set by
    /// [`crate::WorkerBuilder::wait_for_broker`]), or its address or token cannot be used.
    #[error("cannot connect to the broker at {addr}")]
    Connect {
        /// The broker's address, as given.
        addr: String,
        /// Why.
        #[source]
        source: stalk_client::ClientError,
    },
    /// The broker refused or ended the session.
    #[error("the broker refused the session: {}", status_sentence(.0))]
    Session(#[source] tonic::Status),
    /// The builder was given nothing to run or an invalid setting.
    #[error("invalid worker setting: {0}")]
    Config(String),
    /// The pool could not start (a prefork child could not be started).
    #[error("the worker pool cannot start: {0}")]
    Pool(String),
    /// The steps cannot be ordered: a cycle, a missing requirement or a duplicate name.
    #[error("the worker's steps cannot be ordered: {0}")]
    Steps(String),
    /// A step failed to start.
    #[error("step {step:?} failed to start: {cause}")]
    Step {
        /// The step's name.
        step: String,
        /// What went wrong.
        cause: StepError,
    },
    /// The metrics address (`--metrics-listen`, [`crate::WorkerBuilder::metrics_listen`])
    /// cannot be listened on.
    #[error(
        "cannot listen for metrics on {addr}: is the host this machine's and the port free? \
         pick another --metrics-listen"
    )]
    MetricsListen {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A prefork child lost its parent's socket.
    #[error("this prefork child cannot serve its parent at {0}")]
    Child(String),
}

/// A broker's answer as a sentence: `UNAUTHENTICATED: missing or wrong token`, not the
/// status's Debug-like Display (details and metadata included).
pub(crate) fn status_sentence(status: &tonic::Status) -> String {
    let code = format!("{:?}", status.code());
    let mut name = String::with_capacity(code.len() + 4);
    for (i, c) in code.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    match status.message() {
        "" => name,
        message => format!("{name}: {message}"),
    }
}

/// Why a step could not start or stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(String);

impl StepError {
    /// A step error saying what went wrong.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_its_code_name_and_message() {
        let status = tonic::Status::unauthenticated("missing or wrong token");
        assert_eq!(
            status_sentence(&status),
            "UNAUTHENTICATED: missing or wrong token"
        );
        let status = tonic::Status::invalid_argument("");
        assert_eq!(status_sentence(&status), "INVALID_ARGUMENT");
    }

    /// An error with a cause, as a handler's library might return.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the config")]
    struct ConfigUnreadable(#[source] std::io::Error);

    #[test]
    fn question_mark_keeps_the_error_type_and_its_sources() {
        let error = TaskError::from(ConfigUnreadable(std::io::Error::other("disk on fire")));
        assert!(matches!(error, TaskError::Retry { .. }), "{error:?}");
        assert_eq!(error.kind(), "stalk_worker::error::tests::ConfigUnreadable");
        assert_eq!(error.message(), "cannot read the config: disk on fire");
    }
}
