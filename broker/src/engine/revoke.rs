//! Revoking tasks by id.

use super::command::{Outcome, Reply};
use super::ctx::Ctx;
use super::task::TaskState;
use super::transitions::Change;
use super::Engine;

impl Engine {
    pub(super) fn revoke(&mut self, ids: Vec<String>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Revoked(Vec::new()));
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            let state = match self.get(&id).map(|m| (m.key, m.state)) {
                None => None,
                Some((_, state)) if state.is_terminal() => Some(state),
                Some((key, _)) => {
                    Some(self.transition(key, TaskState::Revoked, Change::default(), ctx, &mut out))
                }
            };
            states.push((id, state));
        }
        out.reply = Reply::Revoked(states);
        out
    }
}
