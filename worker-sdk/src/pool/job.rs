//! What the worker hands a pool ([`Job`]) and what the pool reports back ([`Done`]).

use std::sync::Arc;
use std::time::Duration;

use crate::context::{Handoff, TaskMeta};
use crate::error::TaskError;
use crate::policy::RetryPolicy;
use crate::time::TimeLimits;
use bytes::Bytes;

/// One attempt to run.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) lease_id: u64,
    /// The task: id, name, attempt and what the handler may read of it.
    pub(crate) meta: Arc<TaskMeta>,
    pub(crate) payload: Bytes,
    pub(crate) time_limits: TimeLimits,
    pub(crate) policy: RetryPolicy,
}

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The handler returned (or hit a time limit).
    Finished(Result<Vec<u8>, TaskError>),
    /// The process running it died or was killed for a limit: the cause.
    Lost(String),
}

/// A finished attempt.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) lease_id: u64,
    pub(crate) meta: Arc<TaskMeta>,
    pub(crate) ending: Ending,
    /// What its handler handed on (sent only with a success).
    pub(crate) handoff: Handoff,
    /// How long the attempt ran.
    pub(crate) elapsed: Duration,
}

/// The error of an attempt stopped at its hard time limit.
pub(crate) fn time_limit_exceeded(limit: Duration) -> TaskError {
    TaskError::retry(
        "TimeLimitExceeded",
        format!("the attempt ran past its hard time limit of {limit:?} and was stopped"),
    )
}
