//! [`Client::ack_many`]: complete many attempts in one call.

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::lease::LeaseRef;
use crate::state::TaskState;

/// How one attempt ended, for [`Client::ack_many`].
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// The attempt succeeded with this value and content type.
    Success {
        /// The result bytes.
        value: bytes::Bytes,
        /// Their media type.
        content_type: String,
    },
    /// The attempt failed.
    Failure {
        /// The error type, e.g. `IOError`.
        kind: String,
        /// What went wrong.
        message: String,
        /// Fail now, whatever retries are left.
        fatal: bool,
    },
    /// The attempt hands its work on to this canvas, and the task ends as it does (see
    /// [`Client::ack_replace`]).
    Replace(crate::Canvas),
}

impl Client {
    /// Completes many attempts in one call (at most 1000). Each ack is fenced and applied on its
    /// own: the result holds, per ack and in order, the task's new state or why that ack was
    /// refused (e.g. a stale lease: [`tonic::Code::FailedPrecondition`]).
    ///
    /// # Errors
    /// [`ClientError::Status`] when the call as a whole is refused (empty or over-long batch, a
    /// malformed ack) or the broker is unreachable.
    pub async fn ack_many<'a, I, L>(
        &self,
        acks: I,
    ) -> Result<Vec<Result<TaskState, ClientError>>, ClientError>
    where
        I: IntoIterator<Item = (L, AckOutcome)>,
        L: Into<LeaseRef<'a>>,
    {
        let acks: Vec<v1::AckRequest> = acks
            .into_iter()
            .map(|(lease, outcome)| {
                let lease = lease.into();
                v1::AckRequest {
                    task_id: lease.task_id.to_owned(),
                    lease_id: lease.lease_id,
                    add: Vec::new(),
                    outcome: Some(match outcome {
                        AckOutcome::Success {
                            value,
                            content_type,
                        } => v1::ack_request::Outcome::Success(v1::TaskResult {
                            value,
                            content_type,
                        }),
                        AckOutcome::Failure {
                            kind,
                            message,
                            fatal,
                        } => v1::ack_request::Outcome::Failure(v1::Failure {
                            error: Some(v1::Error { kind, message }),
                            fatal,
                            ..v1::Failure::default()
                        }),
                        AckOutcome::Replace(canvas) => {
                            v1::ack_request::Outcome::Replace(canvas.into_proto())
                        }
                    }),
                }
            })
            .collect();
        let response = self
            .tasks()
            .ack_many(v1::AckManyRequest { acks })
            .await?
            .into_inner();
        Ok(response
            .results
            .into_iter()
            .map(|result| match result.error {
                Some(error) => Err(ClientError::Status {
                    code: code_from_name(&error.kind),
                    message: error.message,
                }),
                None => TaskState::from_wire(result.state),
            })
            .collect())
    }
}

/// The code for a status name such as `FAILED_PRECONDITION`.
fn code_from_name(name: &str) -> tonic::Code {
    match name {
        "INVALID_ARGUMENT" => tonic::Code::InvalidArgument,
        "NOT_FOUND" => tonic::Code::NotFound,
        "FAILED_PRECONDITION" => tonic::Code::FailedPrecondition,
        "RESOURCE_EXHAUSTED" => tonic::Code::ResourceExhausted,
        "UNAVAILABLE" => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    }
}
