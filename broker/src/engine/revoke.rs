//! Revoking tasks by id.

use super::command::{Outcome, Reply, Revocation, StoppedLease};
use super::ctx::Ctx;
use super::task::TaskState;
use super::transitions::Change;
use super::Engine;

impl Engine {
    pub(super) fn revoke(&mut self, ids: Vec<String>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Revoked(Vec::new()));
        let revoked = ids
            .into_iter()
            .map(|id| {
                let what = self.revoke_one(&id, ctx, &mut out);
                (id, what)
            })
            .collect();
        out.reply = Reply::Revoked(revoked);
        out
    }

    /// Revokes one task; a leased one's lease is listed in `out.stopped` for its worker.
    pub(super) fn revoke_one(&mut self, id: &str, ctx: Ctx, out: &mut Outcome) -> Revocation {
        let Some(meta) = self.get(id) else {
            return Revocation::Unknown;
        };
        if meta.state.is_terminal() {
            return Revocation::Finished(meta.state);
        }
        let (key, task_id) = (meta.key, meta.id.clone());
        let what = match (meta.state, meta.lease()) {
            (TaskState::Leased, Some(lease)) => {
                out.stopped.push(StoppedLease {
                    task_id,
                    lease_id: lease.id,
                    state: TaskState::Revoked,
                });
                if meta.cold().prefetched {
                    Revocation::Prefetched
                } else {
                    Revocation::Running
                }
            }
            _ => Revocation::Waiting,
        };
        self.transition(key, TaskState::Revoked, Change::default(), ctx, out);
        what
    }
}
