//! [`Client::revoke`], [`Client::revoke_by_headers`] and what they report per task
//! ([`Revoked`], [`RevokedWhile`]).

use std::time::Duration;

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;

/// What a revoke did to one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The task id.
    pub id: String,
    /// Its state after the call: REVOKED, another terminal state if it had already finished,
    /// or UNKNOWN for an id the broker does not know.
    pub state: TaskState,
    /// What it was doing when the revoke came.
    pub was: RevokedWhile,
}

/// What a revoked task was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevokedWhile {
    /// It waited in the broker (ready, scheduled, retrying): it never runs.
    Waiting,
    /// It waited in a worker's prefetch buffer: the worker drops it without starting it.
    Prefetched,
    /// It was running: its worker is told to stop it at once.
    Running,
    /// It had already finished: nothing changed.
    Finished,
    /// The broker does not know the id: it remembers it, and refuses the task (stores it
    /// REVOKED) if it arrives.
    Unknown,
}

impl RevokedWhile {
    /// The lower-case name the CLI prints, e.g. `running`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Prefetched => "prefetched",
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Unknown => "unknown",
        }
    }

    /// What the revoke did, in words, e.g. `stopped while running`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Waiting => "revoked while waiting: it never runs",
            Self::Prefetched => "revoked in a worker's buffer: dropped unstarted",
            Self::Running => "revoked while running: its worker stops it",
            Self::Finished => "already finished: nothing changed",
            Self::Unknown => "unknown id: refused if it arrives",
        }
    }

    fn from_wire(value: i32) -> Result<Self, ClientError> {
        match v1::RevokedWhile::try_from(value) {
            Ok(v1::RevokedWhile::Waiting) => Ok(Self::Waiting),
            Ok(v1::RevokedWhile::Prefetched) => Ok(Self::Prefetched),
            Ok(v1::RevokedWhile::Running) => Ok(Self::Running),
            Ok(v1::RevokedWhile::Finished) => Ok(Self::Finished),
            Ok(v1::RevokedWhile::Unknown) => Ok(Self::Unknown),
            Ok(v1::RevokedWhile::Unspecified) | Err(_) => {
                Err(ClientError::unknown_enum("revoked-while", value))
            }
        }
    }
}

/// What a revoke by header did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedByHeaders {
    /// The live tasks revoked for their headers (at most 1000 listed).
    pub matched: Vec<Revoked>,
    /// How many live tasks were revoked, listed or not.
    pub matched_count: u64,
}

impl Client {
    /// Revokes tasks by id: a waiting task never runs; a leased one's lease is void at once,
    /// and the worker holding it drops it unstarted or stops it while it runs. An id the broker
    /// does not know yet is remembered (3 hours) and its task refused if it arrives. Returns
    /// per id what the revoke did, in request order.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (no ids, over 1000, malformed
    /// id), [`ClientError::Protocol`] for a state this client does not know.
    pub async fn revoke(&self, ids: &[&str]) -> Result<Vec<Revoked>, ClientError> {
        let request = v1::RevokeRequest {
            task_ids: ids.iter().map(|&id| id.to_owned()).collect(),
            ..v1::RevokeRequest::default()
        };
        let response = self.tasks().revoke(request).await?.into_inner();
        outcomes(response.outcomes)
    }

    /// Revokes every live task that carries one of these header values (as Celery revokes by
    /// stamped header), and, for `remember` (default 3 hours), every task that arrives with
    /// one. Durable when it returns.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call (no headers, over 100, empty
    /// name, too many revocations remembered).
    pub async fn revoke_by_headers(
        &self,
        headers: &[(&str, &str)],
        remember: Option<Duration>,
    ) -> Result<RevokedByHeaders, ClientError> {
        let request = v1::RevokeRequest {
            headers: headers
                .iter()
                .map(|&(name, value)| v1::HeaderValue {
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
                .collect(),
            remember_ms: remember.map_or(0, |d| crate::wire::duration_ms(d).max(1)),
            ..v1::RevokeRequest::default()
        };
        let response = self.tasks().revoke(request).await?.into_inner();
        Ok(RevokedByHeaders {
            matched: outcomes(response.matched)?,
            matched_count: response.matched_count,
        })
    }
}

fn outcomes(outcomes: Vec<v1::RevokeOutcome>) -> Result<Vec<Revoked>, ClientError> {
    outcomes
        .into_iter()
        .map(|outcome| {
            Ok(Revoked {
                state: TaskState::from_wire(outcome.state)?,
                was: RevokedWhile::from_wire(outcome.was)?,
                id: outcome.task_id,
            })
        })
        .collect()
}
