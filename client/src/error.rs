//! [`ClientError`]: everything a client call can fail with, each variant saying what to fix.

use std::time::Duration;

use crate::state::TaskState;

/// An error from a stalk client call.
///
/// Errors the broker answered keep their gRPC code ([`ClientError::code`]); the broker's message
/// names the offending field. Causes are kept as [`std::error::Error::source`], so print the whole
/// chain (`{:#}` with anyhow) to see the transport's own reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The broker address could not be understood.
    #[error(
        "invalid broker address '{input}': {reason}; \
         use host:port, http://host:port or https://host:port"
    )]
    InvalidAddress {
        /// The address as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The auth token cannot be sent as an HTTP header value (the token itself is not shown).
    #[error("invalid auth token: {reason}; use printable ASCII without spaces or newlines")]
    InvalidToken {
        /// What is wrong with it.
        reason: String,
    },

    /// No connection to the broker could be made (refused, unreachable, TLS handshake, timeout).
    #[error("cannot connect to the broker; check the address and that stalkd is running there")]
    Connect(#[source] tonic::transport::Error),

    /// The broker (or the transport under a call) answered with a gRPC error status.
    #[error("broker answered {code:?}: {message}{}", hint(*code))]
    Status {
        /// The gRPC status code.
        code: tonic::Code,
        /// The broker's message, which names what was wrong.
        message: String,
    },

    /// The broker refused one task of an Enqueue; nothing was stored for it.
    #[error("broker refused task{} ({kind}): {message}", task_label(task_id.as_deref()))]
    Rejected {
        /// The task id, when the client supplied one.
        task_id: Option<String>,
        /// The gRPC status code name, e.g. `INVALID_ARGUMENT`.
        kind: String,
        /// The broker's message, which names the offending field.
        message: String,
    },

    /// A value could not be encoded to or decoded from JSON.
    #[error("JSON encoding or decoding failed; check that the value matches the expected type")]
    Json(#[source] serde_json::Error),

    /// A task has no result to decode because it did not succeed (yet).
    #[error("task {task_id} has no result: it is {state}; only SUCCEEDED tasks carry one")]
    NoResult {
        /// The task id.
        task_id: String,
        /// The task's state.
        state: TaskState,
    },

    /// Waiting for a task to finish ran out of time; the task is still running or waiting.
    #[error(
        "task {task_id} is still {state} after waiting {waited:?}; \
         wait longer or check that workers consume its queue"
    )]
    Timeout {
        /// The task id.
        task_id: String,
        /// The last state seen.
        state: TaskState,
        /// How long the client waited.
        waited: Duration,
    },

    /// The broker sent something this client does not understand (e.g. a newer broker).
    #[error("unexpected answer from the broker: {0}; check that client and broker versions match")]
    Protocol(String),
}

impl ClientError {
    /// The gRPC status code behind this error: the answered code for [`ClientError::Status`],
    /// the code named by `kind` for [`ClientError::Rejected`], `None` for errors that happened
    /// before or after the call.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Self::Status { code, .. } => Some(*code),
            Self::Rejected { kind, .. } => code_from_name(kind),
            Self::InvalidAddress { .. }
            | Self::InvalidToken { .. }
            | Self::Connect(_)
            | Self::Json(_)
            | Self::NoResult { .. }
            | Self::Timeout { .. }
            | Self::Protocol(_) => None,
        }
    }

    /// A `Protocol` error for an enum value the broker sent that this client does not know.
    pub(crate) fn unknown_enum(what: &str, value: i32) -> Self {
        Self::Protocol(format!("{what} {value} is not one this client knows"))
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        Self::Status {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

impl From<serde_json::Error> for ClientError {
    fn from(err: serde_json::Error) -> Self {
        Self::Json(err)
    }
}

/// A suffix that tells the user what to do about codes whose broker message cannot.
fn hint(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Unavailable => {
            "; the broker is down, shutting down or unreachable: retry later"
        }
        tonic::Code::Unauthenticated => {
            "; pass the broker's bearer token (ClientBuilder::auth_token; \
             for the CLI --token or STALK_TOKEN)"
        }
        tonic::Code::DeadlineExceeded => "; the call took too long: retry, or raise the timeout",
        tonic::Code::Unimplemented => "; the broker does not offer this call: upgrade stalkd",
        _ => "",
    }
}

fn task_label(task_id: Option<&str>) -> String {
    task_id.map(|id| format!(" {id}")).unwrap_or_default()
}

/// Parses a gRPC code name such as `INVALID_ARGUMENT`.
fn code_from_name(name: &str) -> Option<tonic::Code> {
    use tonic::Code;
    let code = match name {
        "OK" => Code::Ok,
        "CANCELLED" => Code::Cancelled,
        "UNKNOWN" => Code::Unknown,
        "INVALID_ARGUMENT" => Code::InvalidArgument,
        "DEADLINE_EXCEEDED" => Code::DeadlineExceeded,
        "NOT_FOUND" => Code::NotFound,
        "ALREADY_EXISTS" => Code::AlreadyExists,
        "PERMISSION_DENIED" => Code::PermissionDenied,
        "RESOURCE_EXHAUSTED" => Code::ResourceExhausted,
        "FAILED_PRECONDITION" => Code::FailedPrecondition,
        "ABORTED" => Code::Aborted,
        "OUT_OF_RANGE" => Code::OutOfRange,
        "UNIMPLEMENTED" => Code::Unimplemented,
        "INTERNAL" => Code::Internal,
        "UNAVAILABLE" => Code::Unavailable,
        "DATA_LOSS" => Code::DataLoss,
        "UNAUTHENTICATED" => Code::Unauthenticated,
        _ => return None,
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keeps_the_grpc_code_and_message() {
        let err = ClientError::from(tonic::Status::failed_precondition("lease 7 is stale"));
        assert_eq!(err.code(), Some(tonic::Code::FailedPrecondition));
        assert!(
            err.to_string().contains("lease 7 is stale"),
            "message: {err}"
        );
    }

    #[test]
    fn rejected_reports_the_code_named_by_its_kind() {
        let err = ClientError::Rejected {
            task_id: Some("t-1".into()),
            kind: "RESOURCE_EXHAUSTED".into(),
            message: "payload is 2 MiB; at most 1 MiB".into(),
        };
        assert_eq!(err.code(), Some(tonic::Code::ResourceExhausted));
        assert_eq!(
            err.to_string(),
            "broker refused task t-1 (RESOURCE_EXHAUSTED): payload is 2 MiB; at most 1 MiB"
        );
    }

    #[test]
    fn unavailable_tells_the_user_to_retry() {
        let err = ClientError::from(tonic::Status::unavailable("broker shutting down"));
        assert!(err.to_string().contains("retry later"), "message: {err}");
    }
}
