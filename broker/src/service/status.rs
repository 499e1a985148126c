//! The one place broker errors become gRPC statuses.

use tonic::{Code, Status};

use crate::broker::BrokerError;
use crate::engine::EngineError;
use crate::store::StoreError;

impl From<BrokerError> for Status {
    fn from(err: BrokerError) -> Self {
        let code = match &err {
            BrokerError::Engine(engine) => engine_code(engine),
            BrokerError::Store(store) => match store {
                StoreError::Open { .. }
                | StoreError::Io(_)
                | StoreError::Poisoned(_)
                | StoreError::UnknownRecordVersion { .. }
                | StoreError::Corrupt { .. } => Code::Unavailable,
            },
            BrokerError::ShuttingDown | BrokerError::Failed(_) => Code::Unavailable,
        };
        Status::new(code, err.to_string())
    }
}

/// The status code of an engine refusal (also for per-task errors in a batch reply).
pub(crate) fn engine_code(err: &EngineError) -> Code {
    match err {
        EngineError::TaskNotFound { .. }
        | EngineError::ScheduleNotFound { .. }
        | EngineError::LimitNotFound { .. } => Code::NotFound,
        EngineError::StaleLease { .. } => Code::FailedPrecondition,
        EngineError::InvalidArgument { .. } => Code::InvalidArgument,
    }
}

/// The canonical upper-case name of a code (`INVALID_ARGUMENT`), as used in `Error.kind`.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::NotFound => "NOT_FOUND",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Unavailable => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

/// An error as carried inside a reply (per task or per ack): the code's name and the message.
pub(crate) fn wire_error(code: Code, message: String) -> stalk_proto::v1::Error {
    stalk_proto::v1::Error {
        kind: code_name(code).into(),
        message,
    }
}
