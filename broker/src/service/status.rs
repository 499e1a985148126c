//! The one place broker errors become gRPC statuses.

use tonic::{Code, Status};

use crate::broker::{chain, BrokerError, Failure};
use crate::engine::EngineError;
use crate::store::StoreError;

impl From<BrokerError> for Status {
    fn from(err: BrokerError) -> Self {
        let code = broker_code(&err);
        match code {
            // The whole chain goes to the log under an id; the caller gets the id to quote.
            Code::Internal | Code::DataLoss => {
                let request_id = uuid::Uuid::now_v7();
                tracing::error!(%request_id, cause = %chain(&err), "request failed");
                Status::new(
                    code,
                    format!("{err} (request id {request_id}; the broker's log has the details)"),
                )
            }
            _ => Status::new(code, chain(&err)),
        }
    }
}

/// The status code of a broker error.
fn broker_code(err: &BrokerError) -> Code {
    match err {
        BrokerError::Engine(engine) => engine_code(engine),
        BrokerError::Store(store) => store_code(store),
        BrokerError::Failed(Failure::Store(store)) => store_code(store),
        BrokerError::Failed(Failure::Driver { cause, .. }) => match broker_code(cause) {
            Code::DataLoss => Code::DataLoss,
            _ => Code::Unavailable,
        },
        BrokerError::ShuttingDown => Code::Unavailable,
        BrokerError::UnexpectedReply { .. } => Code::Internal,
    }
}

/// The status code of a storage error: corrupt or unreadable data is lost data; the rest is the
/// broker being unable to serve, which a client may retry elsewhere or later.
fn store_code(err: &StoreError) -> Code {
    match err {
        StoreError::Corrupt { .. }
        | StoreError::UnknownRecordVersion { .. }
        | StoreError::Damaged { .. }
        | StoreError::LostWrites { .. } => Code::DataLoss,
        // Retrying against the same full disk cannot help; a person has to free space.
        StoreError::DiskFull { .. } | StoreError::LowSpace { .. } => Code::ResourceExhausted,
        StoreError::Open { .. }
        | StoreError::Reopening { .. }
        | StoreError::Stuck { .. }
        | StoreError::Io(_)
        | StoreError::Poisoned(_)
        | StoreError::FlushTimedOut { .. }
        | StoreError::NoRuntime(_) => Code::Unavailable,
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
        EngineError::Full { .. } => Code::ResourceExhausted,
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
        Code::DataLoss => "DATA_LOSS",
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn corrupt() -> StoreError {
        StoreError::Corrupt {
            key: vec![1],
            reason: "bad varint".into(),
        }
    }

    fn disk_full() -> StoreError {
        StoreError::DiskFull {
            path: "/var/lib/stalk".into(),
            source: Arc::new(sled::Error::Io(std::io::Error::from_raw_os_error(28))),
        }
    }

    /// Every kind of broker error, with the code a client must see for it (issue 10: corrupt
    /// records were UNAVAILABLE, which clients retry forever).
    #[test]
    fn every_broker_error_maps_to_its_code() {
        let stale = EngineError::StaleLease {
            id: "t".into(),
            lease_id: 1,
            why: "expired".into(),
        };
        let cases: Vec<(BrokerError, Code)> = vec![
            (
                EngineError::TaskNotFound { id: "t".into() }.into(),
                Code::NotFound,
            ),
            (
                EngineError::ScheduleNotFound { name: "s".into() }.into(),
                Code::NotFound,
            ),
            (
                EngineError::LimitNotFound { limit: "q".into() }.into(),
                Code::NotFound,
            ),
            (stale.into(), Code::FailedPrecondition),
            (
                EngineError::InvalidArgument {
                    field: "eta",
                    message: "in the past".into(),
                }
                .into(),
                Code::InvalidArgument,
            ),
            (corrupt().into(), Code::DataLoss),
            (
                StoreError::UnknownRecordVersion {
                    key: vec![1],
                    version: 9,
                }
                .into(),
                Code::DataLoss,
            ),
            (StoreError::Poisoned(None).into(), Code::Unavailable),
            (
                BrokerError::Failed(Failure::Store(Arc::new(StoreError::Poisoned(None)))),
                Code::Unavailable,
            ),
            (
                BrokerError::Failed(Failure::Driver {
                    driver: "Lease".into(),
                    cause: Arc::new(corrupt().into()),
                }),
                Code::DataLoss,
            ),
            (
                BrokerError::Failed(Failure::Store(Arc::new(disk_full()))),
                Code::ResourceExhausted,
            ),
            (
                StoreError::LowSpace {
                    path: "/var/lib/stalk".into(),
                    free: 1,
                    min_free: 2,
                }
                .into(),
                Code::ResourceExhausted,
            ),
            (BrokerError::ShuttingDown, Code::Unavailable),
            (
                BrokerError::UnexpectedReply {
                    command: "Ack",
                    reply: "Purged(1)".into(),
                },
                Code::Internal,
            ),
        ];
        for (err, code) in cases {
            let shown = err.to_string();
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{shown}");
        }
    }

    #[test]
    fn a_status_message_keeps_the_cause_chain() {
        let failed = BrokerError::Failed(Failure::Store(Arc::new(corrupt())));
        let status = Status::from(failed);
        assert!(
            status.message().contains("request id"),
            "DATA_LOSS names a request id: {}",
            status.message()
        );
        let refused: BrokerError = EngineError::TaskNotFound { id: "t-1".into() }.into();
        assert!(Status::from(refused).message().contains("\"t-1\""));
    }
}
