//! [`TaskState`]: where a task is in its lifecycle, mirroring `stalk.v1.TaskState`.

use std::fmt;
use std::str::FromStr;

use stalk_proto::v1;

use crate::error::ClientError;

/// Where a task is in its lifecycle (see DESIGN.md §3).
///
/// `SUCCEEDED`, `FAILED`, `REVOKED` and `EXPIRED` are terminal: the task never runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// The broker has no record of the id: never enqueued, or its result expired.
    Unknown,
    /// Waiting for its ETA or countdown; not yet leasable.
    Scheduled,
    /// Waiting in its queue, leasable now.
    Ready,
    /// Pushed to a worker under a lease, waiting in its prefetch buffer: not started yet.
    Leased,
    /// Its handler runs: the worker reported the start (a task taken with
    /// [`Client::lease`](crate::Client::lease) runs from its lease).
    Running,
    /// An attempt failed and the task waits out its retry backoff.
    Retrying,
    /// Terminal: an attempt succeeded.
    Succeeded,
    /// Terminal: no retries left, or rejected; the task is in its queue's dead-letter set.
    Failed,
    /// Terminal: revoked before it completed.
    Revoked,
    /// Terminal: its expiry time passed before it started.
    Expired,
    /// A workflow's task that waits for the results of the tasks before it.
    Waiting,
}

impl TaskState {
    /// Every state, in lifecycle order.
    pub const ALL: [TaskState; 11] = [
        Self::Unknown,
        Self::Waiting,
        Self::Scheduled,
        Self::Ready,
        Self::Leased,
        Self::Running,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
        Self::Revoked,
        Self::Expired,
    ];

    /// True for the states a task never leaves: SUCCEEDED, FAILED, REVOKED, EXPIRED.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Revoked | Self::Expired
        )
    }

    /// The upper-case name used on the wire and by the CLI, e.g. `READY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Scheduled => "SCHEDULED",
            Self::Ready => "READY",
            Self::Leased => "LEASED",
            Self::Running => "RUNNING",
            Self::Retrying => "RETRYING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::Waiting => "WAITING",
        }
    }

    /// The generated proto enum for this state.
    pub fn to_proto(self) -> v1::TaskState {
        match self {
            Self::Unknown => v1::TaskState::Unknown,
            Self::Scheduled => v1::TaskState::Scheduled,
            Self::Ready => v1::TaskState::Ready,
            Self::Leased => v1::TaskState::Leased,
            Self::Running => v1::TaskState::Running,
            Self::Retrying => v1::TaskState::Retrying,
            Self::Succeeded => v1::TaskState::Succeeded,
            Self::Failed => v1::TaskState::Failed,
            Self::Revoked => v1::TaskState::Revoked,
            Self::Expired => v1::TaskState::Expired,
            Self::Waiting => v1::TaskState::Waiting,
        }
    }

    /// Converts the raw `state` field of a broker message.
    ///
    /// # Errors
    ///
    /// [`ClientError::Protocol`] for `TASK_STATE_UNSPECIFIED` (never sent by a correct broker)
    /// and for numbers this client does not know (a newer broker).
    pub fn from_wire(value: i32) -> Result<Self, ClientError> {
        match v1::TaskState::try_from(value) {
            Ok(v1::TaskState::Unknown) => Ok(Self::Unknown),
            Ok(v1::TaskState::Scheduled) => Ok(Self::Scheduled),
            Ok(v1::TaskState::Ready) => Ok(Self::Ready),
            Ok(v1::TaskState::Leased) => Ok(Self::Leased),
            Ok(v1::TaskState::Running) => Ok(Self::Running),
            Ok(v1::TaskState::Retrying) => Ok(Self::Retrying),
            Ok(v1::TaskState::Succeeded) => Ok(Self::Succeeded),
            Ok(v1::TaskState::Failed) => Ok(Self::Failed),
            Ok(v1::TaskState::Revoked) => Ok(Self::Revoked),
            Ok(v1::TaskState::Expired) => Ok(Self::Expired),
            Ok(v1::TaskState::Waiting) => Ok(Self::Waiting),
            Ok(v1::TaskState::Unspecified) | Err(_) => {
                Err(ClientError::unknown_enum("task state", value))
            }
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<TaskState> for v1::TaskState {
    fn from(state: TaskState) -> Self {
        state.to_proto()
    }
}

/// The error of parsing a [`TaskState`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown task state '{0}'; use one of unknown, waiting, scheduled, ready, leased, \
     running, retrying, succeeded, failed, revoked, expired"
)]
pub struct ParseTaskStateError(pub String);

impl FromStr for TaskState {
    type Err = ParseTaskStateError;

    /// Parses a state name in any case, with or without the `TASK_STATE_` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("TASK_STATE_").unwrap_or(&upper);
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| ParseTaskStateError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_the_wire_number() {
        for state in TaskState::ALL {
            let wire = state.to_proto() as i32;
            assert_eq!(
                TaskState::from_wire(wire).unwrap(),
                state,
                "wire value {wire}"
            );
        }
    }

    #[test]
    fn state_names_match_the_proto_names() {
        for state in TaskState::ALL {
            let proto_name = state.to_proto().as_str_name();
            assert_eq!(proto_name, format!("TASK_STATE_{state}"), "state {state:?}");
        }
    }

    #[test]
    fn unspecified_and_unknown_numbers_are_protocol_errors() {
        for wire in [0, 12, -1] {
            let err = TaskState::from_wire(wire).unwrap_err();
            assert!(
                matches!(err, ClientError::Protocol(_)),
                "wire {wire}: {err:?}"
            );
        }
    }

    #[test]
    fn only_the_four_end_states_are_terminal() {
        let terminal: Vec<TaskState> = TaskState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                TaskState::Succeeded,
                TaskState::Failed,
                TaskState::Revoked,
                TaskState::Expired
            ]
        );
    }

    #[test]
    fn parses_names_in_any_case_and_with_the_proto_prefix() {
        assert_eq!("ready".parse::<TaskState>(), Ok(TaskState::Ready));
        assert_eq!("Failed".parse::<TaskState>(), Ok(TaskState::Failed));
        assert_eq!(
            "TASK_STATE_EXPIRED".parse::<TaskState>(),
            Ok(TaskState::Expired)
        );
        assert!("done".parse::<TaskState>().is_err());
    }
}
