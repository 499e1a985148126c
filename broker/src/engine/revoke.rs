//! Revoking tasks: by id, and by header value; ids not known yet and header values are
//! remembered (see `revocations.rs`), so a task that arrives later is refused too.

use std::sync::Arc;

use super::canvas::FlowMode;
use super::command::{Outcome, Reply, Revocation, RevokeReport, StoppedLease, Write};
use super::ctx::Ctx;
use super::revocations::{RevokeRule, MAX_REVOCATIONS};
use super::task::TaskState;
use super::transitions::Change;
use super::{Engine, EngineError};

impl Engine {
    /// Revokes `ids` and every live task with one of `headers`; remembers the unknown ids and
    /// the headers for `remember_ms`.
    pub(super) fn revoke(
        &mut self,
        ids: Vec<String>,
        headers: Vec<(String, String)>,
        remember_ms: u64,
        ctx: Ctx,
    ) -> Result<Outcome, EngineError> {
        let mut out = Outcome::new(Reply::Revoked(RevokeReport::default()));
        for rule in self.revocations.prune(ctx.now_ms) {
            out.writes.push(Write::Revocation(rule, None));
        }
        let until_ms = ctx.now_ms.saturating_add(remember_ms);
        let mut report = RevokeReport::default();
        for id in ids {
            let what = match self.get(&id).map(|m| m.key) {
                Some(key) => self.revoke_key(key, ctx, &mut out),
                None if self.is_workflow(&id) => self
                    .revoke_workflow(&id, ctx, &mut report.matched, &mut out)
                    .unwrap_or(Revocation::Unknown),
                None => {
                    self.remember(RevokeRule::Id(Arc::from(id.as_str())), until_ms, &mut out)?;
                    Revocation::Unknown
                }
            };
            report.ids.push((id, what));
        }
        if !headers.is_empty() {
            for (name, value) in &headers {
                let rule = RevokeRule::Header(Arc::from(name.as_str()), Arc::from(value.as_str()));
                self.remember(rule, until_ms, &mut out)?;
            }
            for key in self.live_with_headers(&headers) {
                let id = self.tasks.get(&key).map(|m| m.id.clone());
                let what = self.revoke_key(key, ctx, &mut out);
                report.matched.extend(id.map(|id| (id, what)));
            }
        }
        out.reply = Reply::Revoked(report);
        Ok(out)
    }

    /// Puts back stored revocations after a restart (expired ones are forgotten at the next
    /// revoke).
    pub fn restore_revocations(&mut self, stored: impl IntoIterator<Item = (RevokeRule, u64)>) {
        for (rule, until_ms) in stored {
            // A store holds at most what fitted before, so none is refused here.
            self.revocations.remember(rule, until_ms);
        }
    }

    fn remember(
        &mut self,
        rule: RevokeRule,
        until_ms: u64,
        out: &mut Outcome,
    ) -> Result<(), EngineError> {
        if !self.revocations.remember(rule.clone(), until_ms) {
            return Err(EngineError::Full {
                what: "remembered revocations",
                limit: MAX_REVOCATIONS,
            });
        }
        out.writes.push(Write::Revocation(rule, Some(until_ms)));
        Ok(())
    }

    /// The keys of live tasks that carry one of these header values. A scan of every task:
    /// revoking by header is an operator's action, not a hot path.
    fn live_with_headers(&self, headers: &[(String, String)]) -> Vec<u64> {
        self.tasks
            .values()
            .filter(|m| !m.state.is_terminal())
            .filter(|m| {
                m.cold().headers.iter().any(|(name, value)| {
                    headers.iter().any(|(n, v)| **name == **n && **value == **v)
                })
            })
            .map(|m| m.key)
            .collect()
    }

    /// Revokes one task; a leased one's lease is listed in `out.stopped` for its worker. A task
    /// that replaced itself takes its replacement with it (and that, its own), in a loop.
    pub(super) fn revoke_key(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) -> Revocation {
        let revoked =
            |what: &Revocation| !matches!(what, Revocation::Finished(_) | Revocation::Unknown);
        let what = self.revoke_one(key, ctx, out);
        let mut replacing = if revoked(&what) {
            self.replacement_of(key)
        } else {
            Vec::new()
        };
        while let Some(next) = replacing.pop() {
            if revoked(&self.revoke_one(next, ctx, out)) {
                replacing.extend(self.replacement_of(next));
            }
        }
        what
    }

    /// The tasks that replace the (just revoked) task `key`, if it replaced itself.
    fn replacement_of(&self, key: u64) -> Vec<u64> {
        let Some(flow) = self.tasks.get(&key).and_then(|m| m.cold().flow.as_deref()) else {
            return Vec::new();
        };
        if flow.mode != FlowMode::Forward {
            return Vec::new();
        }
        self.workflows
            .get(&flow.workflow)
            .map(|w| w.replacement_of(key))
            .unwrap_or_default()
    }

    fn revoke_one(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) -> Revocation {
        let Some(meta) = self.tasks.get(&key) else {
            return Revocation::Unknown;
        };
        if meta.state.is_terminal() {
            return Revocation::Finished(meta.state);
        }
        let what = match (meta.state, meta.lease()) {
            (TaskState::Leased, Some(lease)) => {
                out.stopped.push(StoppedLease {
                    task_id: meta.id.clone(),
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
        if what == Revocation::Prefetched {
            // Dropped unstarted by its worker: that was no attempt.
            if let Some(meta) = self.tasks.get_mut(&key) {
                meta.attempts = meta.attempts.saturating_sub(1);
            }
        }
        self.transition(key, TaskState::Revoked, Change::default(), ctx, out);
        what
    }
}
