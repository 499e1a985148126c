//! Leases a session must take back from its worker: revoked while held, or whose start the
//! broker refused. The worker is told at once (`StopTasks`), drops the task if it waits in its
//! buffer and stops it if it runs.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use super::registry::HeldLeases;
use crate::broker::Broker;
use crate::engine::{StoppedLease, TaskState};

/// A task the worker must drop or stop, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The task.
    pub task_id: String,
    /// Its lease, which has ended.
    pub lease_id: u64,
    /// The task's state now (`None`: gone).
    pub state: Option<TaskState>,
    /// Why, for the worker's log.
    pub reason: String,
}

/// Takes out of `held` the leases of a batch from [`Broker::stopped_leases`] that it holds.
/// After a lag (batches were missed) it checks every lease it holds instead.
pub(super) fn take_stopped(
    broker: &Broker,
    held: &mut HeldLeases,
    batch: Result<Arc<[StoppedLease]>, RecvError>,
) -> Vec<Stop> {
    let ended: Vec<(String, u64, Option<TaskState>)> = match batch {
        Ok(batch) => batch
            .iter()
            .filter(|s| held.contains_key(&s.lease_id))
            .map(|s| (s.task_id.to_string(), s.lease_id, Some(s.state)))
            .collect(),
        Err(RecvError::Lagged(missed)) => {
            tracing::warn!(
                missed,
                "a session fell behind on stopped leases; checking its own"
            );
            let leases: Vec<(String, u64)> = held
                .iter()
                .map(|(lease_id, h)| (h.task_id.clone(), *lease_id))
                .collect();
            broker.ended_leases(&leases)
        }
        Err(RecvError::Closed) => Vec::new(),
    };
    ended
        .into_iter()
        .filter(|(_, lease_id, _)| held.remove(lease_id).is_some())
        .map(|(task_id, lease_id, state)| Stop {
            reason: why(state),
            task_id,
            lease_id,
            state,
        })
        .collect()
}

/// The refusals of starts of leases a session does not hold: ended (the task's state says
/// why), or held by another session.
pub(super) fn not_held(broker: &Broker, leases: Vec<(String, u64)>) -> Vec<Stop> {
    if leases.is_empty() {
        return Vec::new();
    }
    let ended = broker.ended_leases(&leases);
    leases
        .into_iter()
        .map(|(task_id, lease_id)| {
            let found = ended.iter().find(|(_, l, _)| *l == lease_id);
            let (state, reason) = match found {
                Some((_, _, state)) => (
                    *state,
                    format!("lease {lease_id} has ended: {}", why(*state)),
                ),
                None => (None, format!("lease {lease_id} is held by another session")),
            };
            Stop {
                task_id,
                lease_id,
                state,
                reason,
            }
        })
        .collect()
}

/// Why a lease ended, as its state says.
fn why(state: Option<TaskState>) -> String {
    match state {
        Some(TaskState::Revoked) => "the task was revoked".into(),
        Some(TaskState::Expired) => "the task expired before it started".into(),
        Some(s) if s.is_terminal() => format!("the task already finished as {s:?}"),
        Some(TaskState::Ready) => {
            "the lease ended: the task waits in the broker again (its queue was paused, or its \
             lease ran out)"
                .into()
        }
        Some(_) => "the lease ended: the task was given to another attempt".into(),
        None => "the task is gone (purged)".into(),
    }
}
