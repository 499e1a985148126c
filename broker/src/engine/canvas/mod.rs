//! Workflows (canvas): steps that wait for the results of the steps before them.
//!
//! A workflow is enqueued as one command whose tasks carry a [`NewFlow`]: how many input slots
//! the step has (one per task whose result it takes, in order), which tasks' slots its own
//! outcome fills, and what it does with a failed input ([`FlowMode`]). A step with slots is
//! WAITING until its [`Verdict`] says otherwise; nothing else about it differs from a task.
//!
//! What is durable, and in which order, so that a crash at any point neither loses nor repeats
//! a step (the store recovers a prefix of the writes, in order):
//! - when a task succeeds, its result is written into each slot it fills *before* its own
//!   state: a crash in between runs the task again, and its second result overwrites the same
//!   slot, so the next step is released once;
//! - when a task ends in any other way (failed, revoked, expired), its own state is written
//!   first, then its error into the slots it fills and what follows from them: a crash in
//!   between leaves the failure recorded, and [`Command::SettleFlows`](super::Command) at the
//!   next start fills those slots;
//! - whether a step is WAITING, READY or REVOKED follows from its filled slots and its mode,
//!   which recovery reads back.
//!
//! # Files
//! - this file: the types ([`NewFlow`], [`FlowNode`], [`FlowMode`], [`Verdict`]);
//! - `input.rs`: how the results make a step's payload ([`assemble`]);
//! - `steps.rs`: the engine's side: filling slots, releasing, revoking, settling.

mod input;
mod steps;

pub use input::{assemble, Input, InputShape, Shape};

/// What a step does when an input fails (a task it waits for fails for good, is revoked or
/// expires).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlowMode {
    /// It is revoked at once (`ParentFailed`): a chain's next step, a chord's body by default.
    #[default]
    FailFast,
    /// It waits for every input, then is revoked if one failed.
    WaitAll,
    /// It waits for every input and runs with the results and the errors, in order.
    Partial,
    /// An error callback (`link_error`): it runs at the first failed input, with that task's id
    /// and error; when every input succeeded it is not needed and is revoked (`NotNeeded`).
    Errback,
}

impl FlowMode {
    /// The stable code stored with the step.
    pub fn code(self) -> u32 {
        match self {
            Self::FailFast => 0,
            Self::WaitAll => 1,
            Self::Partial => 2,
            Self::Errback => 3,
        }
    }

    /// The mode of a stored code, if known.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::FailFast,
            1 => Self::WaitAll,
            2 => Self::Partial,
            3 => Self::Errback,
            _ => return None,
        })
    }
}

/// A workflow step's links, as enqueued: indexes are positions in the same command's tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewFlow {
    /// Input slots: the outcomes it waits for.
    pub inputs: u32,
    /// Where its outcome goes: (index of a task in the same command, slot).
    pub feeds: Vec<(usize, u32)>,
    /// Its workflow's key (set by the engine).
    pub workflow: u64,
    /// What it does with a failed input.
    pub mode: FlowMode,
}

/// What a WAITING step's inputs call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep waiting.
    Wait,
    /// Make it READY.
    Release,
    /// Revoke it: an input it needed failed.
    Revoke,
    /// Revoke it: an error callback that no failure called for.
    NotNeeded,
}

/// A workflow step's links, as the engine keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowNode {
    /// Per input slot, whether an outcome filled it.
    filled: Vec<bool>,
    /// How many are not (kept, so a chord body of 10,000 inputs does not count them per
    /// member).
    missing: usize,
    /// How many were filled by a failure.
    pub(super) failed: usize,
    /// Where its outcome goes: (task key, slot).
    pub feeds: Vec<(u64, u32)>,
    /// Its workflow's key.
    pub workflow: u64,
    /// What it does with a failed input.
    pub mode: FlowMode,
}

impl FlowNode {
    /// A step with `inputs` slots, none filled yet.
    pub fn new(inputs: usize, feeds: Vec<(u64, u32)>, workflow: u64, mode: FlowMode) -> Self {
        Self {
            filled: vec![false; inputs],
            missing: inputs,
            failed: 0,
            feeds,
            workflow,
            mode,
        }
    }

    /// Its input slots.
    pub fn inputs(&self) -> usize {
        self.filled.len()
    }

    /// Input slots not filled yet.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// Whether `slot` is filled.
    pub fn is_filled(&self, slot: u32) -> bool {
        let slot = usize::try_from(slot).ok();
        slot.and_then(|i| self.filled.get(i))
            .copied()
            .unwrap_or(false)
    }

    /// Marks `slot` filled, by a failure or not; false when there is no such slot or it was
    /// filled already.
    pub fn fill(&mut self, slot: u32, failed: bool) -> bool {
        let slot = usize::try_from(slot).ok();
        let Some(filled) = slot.and_then(|i| self.filled.get_mut(i)) else {
            return false;
        };
        if *filled {
            return false;
        }
        *filled = true;
        self.missing -= 1;
        if failed {
            self.failed += 1;
        }
        true
    }

    /// What its inputs call for now.
    pub fn verdict(&self) -> Verdict {
        match self.mode {
            FlowMode::Errback if self.failed > 0 => Verdict::Release,
            FlowMode::Errback if self.missing == 0 => Verdict::NotNeeded,
            FlowMode::FailFast if self.failed > 0 => Verdict::Revoke,
            FlowMode::WaitAll if self.missing == 0 && self.failed > 0 => Verdict::Revoke,
            _ if self.missing == 0 => Verdict::Release,
            _ => Verdict::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FlowMode, FlowNode, Verdict};

    fn node(mode: FlowMode) -> FlowNode {
        FlowNode::new(2, Vec::new(), 0, mode)
    }

    #[test]
    fn each_mode_decides_on_failed_inputs_as_documented() {
        let mut fast = node(FlowMode::FailFast);
        assert!(fast.fill(0, true));
        assert_eq!(fast.verdict(), Verdict::Revoke, "at the first failure");

        let mut all = node(FlowMode::WaitAll);
        all.fill(0, true);
        assert_eq!(all.verdict(), Verdict::Wait, "until every input is in");
        all.fill(1, false);
        assert_eq!(all.verdict(), Verdict::Revoke);

        let mut partial = node(FlowMode::Partial);
        partial.fill(0, true);
        partial.fill(1, false);
        assert_eq!(partial.verdict(), Verdict::Release, "with the errors");

        let mut errback = node(FlowMode::Errback);
        errback.fill(0, false);
        assert_eq!(errback.verdict(), Verdict::Wait);
        errback.fill(1, false);
        assert_eq!(errback.verdict(), Verdict::NotNeeded, "nothing failed");
        let mut called = node(FlowMode::Errback);
        called.fill(1, true);
        assert_eq!(called.verdict(), Verdict::Release, "at the first failure");
    }

    #[test]
    fn a_slot_fills_once_and_unknown_slots_are_refused() {
        let mut n = node(FlowMode::FailFast);
        assert!(n.fill(1, false));
        assert!(!n.fill(1, true), "filled already");
        assert!(!n.fill(2, false), "no such slot");
        assert_eq!((n.missing(), n.verdict()), (1, Verdict::Wait));
        assert!(n.is_filled(1) && !n.is_filled(0));
        for mode in [
            FlowMode::FailFast,
            FlowMode::WaitAll,
            FlowMode::Partial,
            FlowMode::Errback,
        ] {
            assert_eq!(FlowMode::from_code(mode.code()), Some(mode));
        }
        assert_eq!(FlowMode::from_code(9), None);
    }
}
