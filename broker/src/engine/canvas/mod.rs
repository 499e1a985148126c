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
//! - `steps.rs`: the engine's side: filling slots, releasing, revoking, settling;
//! - `graft.rs`: work a running task hands on with its ack (a replacement, added members).

mod graft;
mod input;
mod steps;

pub use graft::{NewGraft, Replacement, MAX_GRAFTED_WORKFLOW_TASKS};
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
    /// A task that replaced itself: it does not run again, it ends as its replacement does
    /// (see [`Forward`]).
    Forward,
}

impl FlowMode {
    /// The stable code stored with the step.
    pub fn code(self) -> u32 {
        match self {
            Self::FailFast => 0,
            Self::WaitAll => 1,
            Self::Partial => 2,
            Self::Errback => 3,
            Self::Forward => 4,
        }
    }

    /// The mode of a stored code, if known.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::FailFast,
            1 => Self::WaitAll,
            2 => Self::Partial,
            3 => Self::Errback,
            4 => Self::Forward,
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
    /// Where else its outcome goes: (key of a task that exists already, slot); set by the
    /// engine for the last tasks of a replacement, which feed the task they replace.
    pub key_feeds: Vec<(u64, u32)>,
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
    /// A replaced task: what it waits for from its replacement.
    pub forward: Option<Box<Forward>>,
}

/// What a replaced task waits for: the results of its replacement's last tasks fill its slots
/// from `from` on (its own inputs, before, stay as they were), and make its result as a chain's
/// next step would take them (one task's result as it is; a group's as a JSON list). They are
/// kept here until the last is in, so the engine can write the result with the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The first slot of the replacement's results.
    pub from: u32,
    /// How they make the result (slot 0 is `from`).
    pub shape: Shape,
    /// Those filled so far (index 0 is slot `from`).
    values: Vec<Option<Input>>,
}

impl Forward {
    /// The result the replacement's results make: one task's as it is, a list as JSON.
    pub fn result(&self) -> (bytes::Bytes, &'static str) {
        match &self.shape {
            Shape::Slot(0) if self.values.len() == 1 => {
                let value = self.values.first().and_then(Option::as_ref);
                (value.map(|v| v.value.clone()).unwrap_or_default(), "")
            }
            shape => (shape.value(&self.values), "application/json"),
        }
    }

    /// Whether every one is in.
    pub fn is_complete(&self) -> bool {
        self.values.iter().all(Option::is_some)
    }

    /// The first failure among them, as stored: `{"task_id", "error": {"kind", "message"}}`.
    pub fn failure(&self) -> Option<&Input> {
        self.values.iter().flatten().find(|i| i.failed)
    }
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
            forward: None,
        }
    }

    /// Makes this step wait for a replacement whose results fill `count` new slots, in
    /// `shape` (slots counted from 0): its own slots count as filled, and it ends as the
    /// replacement does ([`FlowMode::Forward`]).
    pub fn forward_to(&mut self, count: usize, shape: Shape) {
        let from = u32::try_from(self.filled.len()).unwrap_or(u32::MAX);
        self.filled.iter_mut().for_each(|f| *f = true);
        self.filled.resize(self.filled.len() + count, false);
        self.missing = count;
        self.failed = 0;
        self.mode = FlowMode::Forward;
        self.forward = Some(Box::new(Forward {
            from,
            shape,
            values: vec![None; count],
        }));
    }

    /// A stored replaced task's node: `inputs` slots, the last `shape.slots()` of them its
    /// replacement's; `None` when the shape has more slots than the step.
    pub fn forwarding(
        inputs: usize,
        feeds: Vec<(u64, u32)>,
        workflow: u64,
        shape: Shape,
    ) -> Option<Self> {
        let count = shape.slots();
        let own = inputs.checked_sub(count)?;
        let mut node = Self::new(own, feeds, workflow, FlowMode::Forward);
        node.forward_to(count, shape);
        Some(node)
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

    /// Marks `slot` filled with `input`; false when there is no such slot or it was filled
    /// already. A replaced task keeps its replacement's results.
    pub fn fill_with(&mut self, slot: u32, input: &Input) -> bool {
        if !self.fill(slot, input.failed) {
            return false;
        }
        if let Some(forward) = self.forward.as_deref_mut() {
            let at = slot.checked_sub(forward.from).map(|i| i as usize);
            if let Some(value) = at.and_then(|i| forward.values.get_mut(i)) {
                *value = Some(input.clone());
            }
        }
        true
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
            FlowMode::FailFast | FlowMode::Forward if self.failed > 0 => Verdict::Revoke,
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
    fn a_replaced_step_waits_for_its_replacement_only_and_keeps_its_results() {
        let mut n = node(FlowMode::Errback);
        n.fill(0, true);
        n.forward_to(
            2,
            super::Shape::List(vec![super::Shape::Slot(0), super::Shape::Slot(1)]),
        );
        assert_eq!(
            (n.inputs(), n.missing(), n.verdict()),
            (4, 2, Verdict::Wait)
        );
        assert!(!n.fill(1, false), "its own slots count as filled");
        let one = |v: &'static str| super::Input {
            failed: false,
            value: bytes::Bytes::from_static(v.as_bytes()),
        };
        assert!(n.fill_with(3, &one("2")));
        assert!(n.fill_with(2, &one("1")));
        assert_eq!(n.verdict(), Verdict::Release);
        let forward = n.forward.as_deref().expect("forwarding");
        assert_eq!(
            forward.result(),
            (bytes::Bytes::from_static(b"[1,2]"), "application/json")
        );

        let stored = FlowNode::forwarding(4, Vec::new(), 0, forward.shape.clone());
        assert_eq!(stored.as_ref().map(FlowNode::missing), Some(2));
        let mut failing = stored.expect("fits");
        failing.fill_with(2, &super::Input::failure("t", "ValueError", "bad"));
        assert_eq!(
            failing.verdict(),
            Verdict::Revoke,
            "a failure ends it at once"
        );
        assert!(FlowNode::forwarding(1, Vec::new(), 0, forward.shape.clone()).is_none());
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
            FlowMode::Forward,
        ] {
            assert_eq!(FlowMode::from_code(mode.code()), Some(mode));
        }
        assert_eq!(FlowMode::from_code(9), None);
    }
}
