//! Exit codes: the one mapping from what went wrong to the status `stalk` exits with, and the
//! one line that says what went wrong.

use stalk_client::{ClientError, TaskFailure, TaskState};

/// Success.
pub(crate) const OK: u8 = 0;
/// The broker refused the request, or a task ended FAILED/REVOKED/EXPIRED where a success was
/// asked for.
pub(crate) const REFUSED: u8 = 1;
/// A usage error: bad flags or values (clap uses the same code).
pub(crate) const USAGE: u8 = 2;
/// The broker cannot be reached or is unavailable.
pub(crate) const UNAVAILABLE: u8 = 3;
/// Not found: the broker has no record of the task.
pub(crate) const NOT_FOUND: u8 = 4;
/// Timed out waiting.
pub(crate) const TIMEOUT: u8 = 5;

/// The exit codes as `stalk --help` shows them.
pub(crate) const HELP: &str = "\
Exit status:
  0  success
  1  the broker refused the request, or the task ended FAILED, REVOKED or EXPIRED
     where a success was asked for (`result --wait`), or a worker did not answer a
     control command or did not do what it asked
  2  usage error: bad flags or values
  3  cannot connect to the broker, or it is unavailable
  4  not found: the broker has no record of the task (state UNKNOWN) or schedule
  5  timed out waiting (`result --wait`, or the call's deadline)";

/// Failures the CLI itself decides on, beside the [`ClientError`]s of the calls it makes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A flag value the parser could not check alone (e.g. a payload file).
    #[error("{0}")]
    Usage(String),
    /// A task reached a terminal state other than SUCCEEDED where a success was asked for.
    #[error("task {id} ended {state}{}", describe(error.as_ref()))]
    TaskEnded {
        /// The task id.
        id: String,
        /// FAILED, REVOKED or EXPIRED.
        state: TaskState,
        /// The task's last error, if any.
        error: Option<TaskFailure>,
    },
    /// The broker has no record of these ids.
    #[error(
        "the broker has no record of task {}: check the id; results are deleted after their \
         time-to-live",
        ids.join(", ")
    )]
    UnknownTasks {
        /// The unknown ids.
        ids: Vec<String>,
    },
    /// The broker answered that it does not serve (starting, shutting down, or its data dir
    /// cannot be written).
    #[error("the broker is not serving")]
    NotServing,
    /// Workers did not do what a control command asked (or none is connected).
    #[error("{}", no_answer(workers))]
    NoAnswer {
        /// The workers that did not answer `ok`; empty when no worker is connected.
        workers: Vec<String>,
    },
    /// Workers answered a control command but did not do what it asked.
    #[error("{}", answers.join("; "))]
    Declined {
        /// One `worker W: what it said` per worker that declined.
        answers: Vec<String>,
    },
}

fn no_answer(workers: &[String]) -> String {
    if workers.is_empty() {
        "no worker is connected".into()
    } else {
        format!("no answer from worker {}", workers.join(", "))
    }
}

fn describe(error: Option<&TaskFailure>) -> String {
    error.map_or_else(String::new, |e| format!(": {}: {}", e.kind, e.message))
}

/// The exit code for an error: the first [`CliError`] or [`ClientError`] in its chain decides.
pub(crate) fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(err) = cause.downcast_ref::<CliError>() {
            return cli_code(err);
        }
        if let Some(err) = cause.downcast_ref::<ClientError>() {
            return client_code(err);
        }
    }
    REFUSED
}

/// The error and its causes as one line, `what: why: deeper why`.
///
/// A cause whose text repeats the one before is left out: a tonic transport error wraps a cause
/// of the same text, which printed "tcp connect error: tcp connect error: …".
/// Line breaks (a worker's multi-line error message) become spaces, so the error stays one line.
pub(crate) fn error_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    let line = parts.join(": ");
    if line.contains(['\n', '\r']) {
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        line
    }
}

fn cli_code(err: &CliError) -> u8 {
    match err {
        CliError::Usage(_) => USAGE,
        CliError::TaskEnded { .. } => REFUSED,
        CliError::UnknownTasks { .. } => NOT_FOUND,
        CliError::NoAnswer { .. } | CliError::Declined { .. } => REFUSED,
        CliError::NotServing => UNAVAILABLE,
    }
}

fn client_code(err: &ClientError) -> u8 {
    match err {
        ClientError::InvalidAddress { .. } | ClientError::InvalidToken { .. } => USAGE,
        ClientError::Connect(_) => UNAVAILABLE,
        ClientError::Status { code, .. } => match code {
            tonic::Code::Unavailable => UNAVAILABLE,
            tonic::Code::NotFound => NOT_FOUND,
            tonic::Code::DeadlineExceeded => TIMEOUT,
            _ => REFUSED,
        },
        ClientError::Timeout { .. } => TIMEOUT,
        ClientError::Rejected { .. }
        | ClientError::Json(_)
        | ClientError::NoResult { .. }
        | ClientError::Protocol(_) => REFUSED,
        // ClientError is non-exhaustive: a variant added later is a refusal until mapped here.
        _ => REFUSED,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::Context;

    use super::*;

    fn code(err: impl Into<anyhow::Error>) -> u8 {
        code_for(&err.into())
    }

    fn status(code: tonic::Code) -> ClientError {
        ClientError::Status {
            code,
            message: "m".into(),
        }
    }

    #[test]
    fn broker_status_codes_map_to_the_documented_exit_codes() {
        assert_eq!(code(status(tonic::Code::Unavailable)), UNAVAILABLE);
        assert_eq!(code(status(tonic::Code::NotFound)), NOT_FOUND);
        assert_eq!(code(status(tonic::Code::DeadlineExceeded)), TIMEOUT);
        for refused in [
            tonic::Code::InvalidArgument,
            tonic::Code::FailedPrecondition,
            tonic::Code::ResourceExhausted,
            tonic::Code::Unauthenticated,
            tonic::Code::Internal,
        ] {
            assert_eq!(code(status(refused)), REFUSED, "{refused:?}");
        }
    }

    #[test]
    fn client_side_failures_map_to_usage_timeout_or_refusal() {
        let bad_addr = ClientError::InvalidAddress {
            input: "x".into(),
            reason: "r".into(),
        };
        assert_eq!(code(bad_addr), USAGE);
        let timeout = ClientError::Timeout {
            task_id: "t".into(),
            state: TaskState::Leased,
            waited: Duration::from_secs(1),
        };
        assert_eq!(code(timeout), TIMEOUT);
        let rejected = ClientError::Rejected {
            task_id: None,
            kind: "INVALID_ARGUMENT".into(),
            message: "m".into(),
        };
        assert_eq!(code(rejected), REFUSED);
        assert_eq!(code(ClientError::Protocol("p".into())), REFUSED);
    }

    #[test]
    fn cli_outcomes_map_to_refused_not_found_and_usage() {
        let ended = CliError::TaskEnded {
            id: "t".into(),
            state: TaskState::Failed,
            error: None,
        };
        assert_eq!(code(ended), REFUSED);
        let unknown = CliError::UnknownTasks {
            ids: vec!["t".into()],
        };
        assert_eq!(code(unknown), NOT_FOUND);
        assert_eq!(code(CliError::Usage("u".into())), USAGE);
    }

    #[test]
    fn context_around_an_error_keeps_its_code() {
        let err = Err::<(), _>(status(tonic::Code::Unavailable))
            .context("127.0.0.1:7070")
            .unwrap_err();
        assert_eq!(code_for(&err), UNAVAILABLE);
        assert_eq!(code_for(&anyhow::anyhow!("anything else")), REFUSED);
    }

    #[test]
    fn the_error_line_drops_repeated_causes_and_line_breaks() {
        #[derive(Debug, thiserror::Error)]
        #[error("tcp connect error")]
        struct Inner(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("tcp connect error")]
        struct Outer(#[source] Inner);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = anyhow::Error::new(Outer(Inner(refused))).context("127.0.0.1:1");
        assert_eq!(
            error_line(&err),
            format!(
                "127.0.0.1:1: tcp connect error: {}",
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused)
            )
        );
        let ended = CliError::TaskEnded {
            id: "t".into(),
            state: TaskState::Failed,
            error: Some(TaskFailure {
                kind: "ValueError".into(),
                message: "bad input\n  at line 3".into(),
            }),
        };
        assert_eq!(
            error_line(&ended.into()),
            "task t ended FAILED: ValueError: bad input at line 3"
        );
    }

    #[test]
    fn the_help_text_lists_every_code() {
        for exit in [OK, REFUSED, USAGE, UNAVAILABLE, NOT_FOUND, TIMEOUT] {
            assert!(
                HELP.contains(&format!("\n  {exit}  ")),
                "code {exit} missing"
            );
        }
    }
}
