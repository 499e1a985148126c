//! The engine's side of workflows: a task's outcome fills the slots it feeds, and each step
//! whose inputs call for it is released or revoked (see the module's rules).

use super::super::command::{Outcome, Write};
use super::super::ctx::Ctx;
use super::super::task::{TaskError, TaskResult, TaskState};
use super::super::transitions::Change;
use super::super::Engine;
use super::{FlowMode, FlowNode, Input, NewFlow, Verdict};

impl Engine {
    /// The links of a new step enqueued as the `index`-th task of `ctx`'s command: the
    /// indexes of the steps it feeds become their keys, which the same command gives them.
    pub(in crate::engine) fn new_flow_node(flow: &NewFlow, ctx: Ctx) -> FlowNode {
        let feeds = flow
            .feeds
            .iter()
            .map(|&(index, slot)| (ctx.sub_id(index), slot))
            .chain(flow.key_feeds.iter().copied())
            .collect();
        FlowNode::new(flow.inputs as usize, feeds, flow.workflow, flow.mode)
    }

    /// After a workflow's tasks were created: the slots fed by one that ended at once
    /// (revoked on arrival) are filled with its failure.
    pub(in crate::engine) fn settle_arrivals(&mut self, keys: &[u64], ctx: Ctx, out: &mut Outcome) {
        for &key in keys {
            let state = self.tasks.get(&key).map(|m| m.state);
            if let Some(state) = state.filter(|s| s.is_terminal() && *s != TaskState::Succeeded) {
                self.flow_ended(key, state, ctx, out);
            }
        }
    }

    /// Before a task's success is written: its result fills the slots it feeds.
    pub(in crate::engine) fn flow_succeeded(
        &mut self,
        key: u64,
        result: Option<&TaskResult>,
        ctx: Ctx,
        out: &mut Outcome,
    ) {
        let value = result.map(|r| r.value.clone()).unwrap_or_default();
        let input = Input {
            failed: false,
            value,
        };
        for (to, slot) in self.feeds(key) {
            if self.fill(to, slot, &input, out) {
                self.apply_verdict(to, None, ctx, out);
            }
        }
    }

    /// After a task ended without success (`how`) was written: its failure fills the slots it
    /// feeds.
    pub(in crate::engine) fn flow_ended(
        &mut self,
        key: u64,
        how: TaskState,
        ctx: Ctx,
        out: &mut Outcome,
    ) {
        let Some(meta) = self.tasks.get(&key) else {
            return;
        };
        let (kind, message) = match meta.error() {
            Some(error) => (error.kind.clone(), error.message.clone()),
            None => match how {
                TaskState::Revoked => ("Revoked".into(), "the task was revoked".into()),
                TaskState::Expired => ("Expired".into(), "the task expired".into()),
                _ => ("Failed".into(), format!("the task ended {}", how.name())),
            },
        };
        let cause = TaskError {
            kind: "ParentFailed".into(),
            message: format!(
                "a task it waited for, {} ({}), ended {}: {kind}: {message}",
                meta.id,
                meta.name,
                how.name()
            ),
        };
        let input = Input::failure(&meta.id.to_string(), &kind, &message);
        for (to, slot) in self.feeds(key) {
            if self.fill(to, slot, &input, out) {
                self.apply_verdict(to, Some(&cause), ctx, out);
            }
        }
    }

    /// After a restart: the slots of tasks that ended without success whose failure was not
    /// written yet are filled, and every waiting step whose inputs call for it is released or
    /// revoked (see the module's write order).
    pub(in crate::engine) fn settle_flows(&mut self, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(super::super::command::Reply::Ticked(0));
        let ended: Vec<(u64, TaskState)> = self
            .tasks
            .values()
            .filter(|m| m.state.is_terminal() && m.state != TaskState::Succeeded)
            .filter(|m| m.cold().flow.as_ref().is_some_and(|f| !f.feeds.is_empty()))
            .map(|m| (m.key, m.state))
            .collect();
        for (key, state) in ended {
            self.flow_ended(key, state, ctx, &mut out);
        }
        let waiting: Vec<u64> = self
            .tasks
            .values()
            .filter(|m| m.state == TaskState::Waiting)
            .filter(|m| {
                let flow = m.cold().flow.as_ref();
                flow.is_some_and(|f| f.verdict() != Verdict::Wait)
            })
            .map(|m| m.key)
            .collect();
        let settled = waiting.len();
        for key in waiting {
            self.apply_verdict(key, None, ctx, &mut out);
        }
        out.reply = super::super::command::Reply::Ticked(settled);
        out
    }

    /// Fills `slot` of the waiting step `to` with `input` (written); false when the step no
    /// longer waits or the slot was filled (a task run again after a crash).
    fn fill(&mut self, to: u64, slot: u32, input: &Input, out: &mut Outcome) -> bool {
        let Some(next) = self.tasks.get_mut(&to) else {
            return false;
        };
        if next.state != TaskState::Waiting {
            return false;
        }
        let Some(flow) = next.cold_mut().flow.as_deref_mut() else {
            return false;
        };
        if !flow.fill_with(slot, input) {
            return false;
        }
        out.writes.push(Write::FlowInput {
            key: to,
            slot,
            input: input.clone(),
        });
        true
    }

    /// Releases or revokes the waiting step `key` as its inputs call for; `cause` names the
    /// failure that called for a revoke, when one did.
    fn apply_verdict(&mut self, key: u64, cause: Option<&TaskError>, ctx: Ctx, out: &mut Outcome) {
        let Some(meta) = self.tasks.get_mut(&key) else {
            return;
        };
        let Some(flow) = meta.cold().flow.as_deref() else {
            return;
        };
        let (verdict, failed, inputs) = (flow.verdict(), flow.failed, flow.inputs());
        if flow.mode == FlowMode::Forward && verdict != Verdict::Wait {
            self.forward_ended(key, ctx, out);
            return;
        }
        match verdict {
            Verdict::Wait => {}
            Verdict::Release => {
                self.transition(key, TaskState::Ready, Change::default(), ctx, out);
            }
            Verdict::Revoke => {
                meta.cold_mut().error = Some(cause.cloned().unwrap_or_else(|| TaskError {
                    kind: "ParentFailed".into(),
                    message: format!("{failed} of the {inputs} tasks it waited for failed"),
                }));
                self.transition(key, TaskState::Revoked, Change::default(), ctx, out);
            }
            Verdict::NotNeeded => {
                meta.cold_mut().error = Some(TaskError {
                    kind: "NotNeeded".into(),
                    message: "an error callback: every task it watched succeeded".into(),
                });
                self.transition(key, TaskState::Revoked, Change::default(), ctx, out);
            }
        }
    }

    /// A replaced task's replacement ended: the task ends as it did. One after another, not
    /// nested: a task replaced by a task that replaced itself, a thousand times over, ends a
    /// thousand tasks in a loop, not a recursion a thousand deep.
    fn forward_ended(&mut self, key: u64, ctx: Ctx, out: &mut Outcome) {
        if let Some(pending) = self.forwards.as_mut() {
            pending.push(key);
            return;
        }
        self.forwards = Some(vec![key]);
        while let Some(next) = self.forwards.as_mut().and_then(Vec::pop) {
            self.end_forward(next, ctx, out);
        }
        self.forwards = None;
    }

    fn feeds(&self, key: u64) -> Vec<(u64, u32)> {
        self.tasks
            .get(&key)
            .and_then(|m| m.cold().flow.as_ref())
            .map(|f| f.feeds.clone())
            .unwrap_or_default()
    }
}
