//! Revocations remembered for tasks that have not arrived yet: by id (a revoke that came before
//! its task), and by header value (Celery's revoke by stamped header). A task that arrives
//! matching one is stored REVOKED and never runs. Each is kept for a while (`until_ms`) and is
//! durable, so a restart does not let a revoked task through.

use std::collections::HashMap;
use std::sync::Arc;

/// Most revocations remembered at once, so a flood of revokes cannot grow memory without end.
pub const MAX_REVOCATIONS: usize = 100_000;

/// What a remembered revocation matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RevokeRule {
    /// A task id.
    Id(Arc<str>),
    /// A header name and value.
    Header(Arc<str>, Arc<str>),
}

impl std::fmt::Display for RevokeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "id {id:?}"),
            Self::Header(name, value) => write!(f, "header {name}={value}"),
        }
    }
}

/// The remembered revocations, each with the time it is forgotten (unix ms).
#[derive(Debug, Default)]
pub(super) struct Revocations {
    rules: HashMap<RevokeRule, u64>,
    /// Whether a header rule exists, so enqueues without one skip the header checks.
    headers: usize,
}

impl Revocations {
    /// Remembers `rule` until `until_ms` (a later time wins). `false` when full.
    pub(super) fn remember(&mut self, rule: RevokeRule, until_ms: u64) -> bool {
        if let Some(until) = self.rules.get_mut(&rule) {
            *until = (*until).max(until_ms);
            return true;
        }
        if self.rules.len() >= MAX_REVOCATIONS {
            return false;
        }
        if matches!(rule, RevokeRule::Header(..)) {
            self.headers += 1;
        }
        self.rules.insert(rule, until_ms);
        true
    }

    /// The rule a task arriving with this id and these headers matches at `now_ms`, if any.
    pub(super) fn matching<'a>(
        &self,
        id: &str,
        mut headers: impl Iterator<Item = (&'a str, &'a str)>,
        now_ms: u64,
    ) -> Option<RevokeRule> {
        // The common case, checked on every enqueue: nothing is remembered.
        if self.rules.is_empty() {
            return None;
        }
        let live = |rule: &RevokeRule| self.rules.get(rule).is_some_and(|&until| until > now_ms);
        let by_id = RevokeRule::Id(Arc::from(id));
        if live(&by_id) {
            return Some(by_id);
        }
        if self.headers == 0 {
            return None;
        }
        headers.find_map(|(name, value)| {
            let rule = RevokeRule::Header(Arc::from(name), Arc::from(value));
            live(&rule).then_some(rule)
        })
    }

    /// Forgets the rules whose time has passed; returns them, for the store.
    pub(super) fn prune(&mut self, now_ms: u64) -> Vec<RevokeRule> {
        let expired: Vec<RevokeRule> = self
            .rules
            .iter()
            .filter(|(_, &until)| until <= now_ms)
            .map(|(rule, _)| rule.clone())
            .collect();
        for rule in &expired {
            self.rules.remove(rule);
            if matches!(rule, RevokeRule::Header(..)) {
                self.headers -= 1;
            }
        }
        expired
    }
}
