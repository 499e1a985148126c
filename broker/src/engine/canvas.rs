//! Workflows (canvas): steps that wait for the results of the steps before them.
//!
//! A workflow is enqueued as one command whose tasks carry a [`NewFlow`]: how many input slots
//! the step has (one per step whose result it takes, in order) and which steps' slots its own
//! result fills. A step with slots is WAITING until every slot is filled, then READY; nothing
//! else about it differs from a task.
//!
//! What is durable, and in which order, so that a crash at any point neither loses nor repeats
//! a step (the store recovers a prefix of the writes, in order):
//! - when a step succeeds, its result is written into each slot it fills *before* its own
//!   state: a crash in between runs the step again, and its second result overwrites the same
//!   slot, so the next step is released once;
//! - whether a step is WAITING or READY follows from its filled slots, which recovery counts;
//! - when a step ends in any other way (failed, revoked, expired), the steps that wait for it
//!   are revoked after it, naming it: they never run.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::command::{Outcome, Write};
use super::ctx::Ctx;
use super::task::{TaskError, TaskResult, TaskState};
use super::transitions::Change;
use super::Engine;

/// A workflow step's links, as enqueued: indexes are positions in the same command's tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewFlow {
    /// Input slots: the results it waits for.
    pub inputs: u32,
    /// Where its result goes: (index of a task in the same command, slot).
    pub feeds: Vec<(usize, u32)>,
    /// Its workflow's key (set by the engine).
    pub workflow: u64,
}

/// A workflow step's links, as the engine keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowNode {
    /// Per input slot, whether a result filled it.
    filled: Vec<bool>,
    /// How many are not (kept, so a chord body of 10,000 inputs does not count them per
    /// member).
    missing: usize,
    /// Where its result goes when it succeeds: (task key, slot).
    pub feeds: Vec<(u64, u32)>,
    /// Its workflow's key.
    pub workflow: u64,
}

impl FlowNode {
    /// A step with `inputs` slots, none filled yet.
    pub fn new(inputs: usize, feeds: Vec<(u64, u32)>, workflow: u64) -> Self {
        Self {
            filled: vec![false; inputs],
            missing: inputs,
            feeds,
            workflow,
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

    /// Marks `slot` filled; false when there is no such slot.
    pub fn fill(&mut self, slot: u32) -> bool {
        let Some(filled) = usize::try_from(slot)
            .ok()
            .and_then(|i| self.filled.get_mut(i))
        else {
            return false;
        };
        if !*filled {
            *filled = true;
            self.missing -= 1;
        }
        true
    }
}

/// How the results a step waits for make one JSON value: a slot's result, or a list of shapes
/// (a group's results, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// The result in this slot.
    Slot(u32),
    /// A JSON array of these.
    List(Vec<Shape>),
}

impl Shape {
    /// The compact text stored with the step: `0`, `[0,1]`, `[0,[1,2]]`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Self::Slot(slot) => {
                let _ = write!(out, "{slot}");
            }
            Self::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
        }
    }

    /// Reads [`Shape::encode`]'s text; `None` when it is not one.
    pub fn decode(text: &str) -> Option<Self> {
        fn of(value: &serde_json::Value) -> Option<Shape> {
            match value {
                serde_json::Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Shape::Slot),
                serde_json::Value::Array(items) => {
                    items.iter().map(of).collect::<Option<_>>().map(Shape::List)
                }
                _ => None,
            }
        }
        of(&serde_json::from_str(text).ok()?)
    }

    fn render(&self, slots: &[Option<Bytes>], out: &mut String) {
        match self {
            Self::Slot(slot) => {
                let value = usize::try_from(*slot)
                    .ok()
                    .and_then(|i| slots.get(i))
                    .and_then(Option::as_ref);
                out.push_str(&json_of(value.map_or(&[][..], |v| &v[..])));
            }
            Self::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(slots, out);
                }
                out.push(']');
            }
        }
    }
}

/// How a step takes the results it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    /// The results as one value.
    pub shape: Shape,
    /// Ignore them: the payload goes as given (an immutable signature).
    pub immutable: bool,
}

/// A result as JSON text: JSON as it is, nothing as `null`, anything else as a JSON string of
/// its text (bytes that are not UTF-8 replaced).
fn json_of(value: &[u8]) -> String {
    if value.iter().all(u8::is_ascii_whitespace) {
        return "null".to_owned();
    }
    match std::str::from_utf8(value) {
        Ok(text) if serde_json::from_str::<&RawValue>(text).is_ok() => text.trim().to_owned(),
        _ => serde_json::Value::String(String::from_utf8_lossy(value).into_owned()).to_string(),
    }
}

/// A step's payload with the results it waited for: the results' value `v` goes first among
/// its positional arguments, as Celery passes a parent's result.
/// - no payload: `[v]`;
/// - a JSON array `[a, b]`: `[v, a, b]`;
/// - an object with an `args` array (`{"args": [a], "kwargs": {…}}`): `v` goes first in
///   `args`;
/// - anything else `p`: `[v, p]`.
///
/// An immutable step gets its payload unchanged.
pub fn assemble(payload: &Bytes, input: &InputShape, slots: &[Option<Bytes>]) -> Bytes {
    if input.immutable {
        return payload.clone();
    }
    let mut value = String::new();
    input.shape.render(slots, &mut value);
    let text = std::str::from_utf8(payload).unwrap_or_default().trim();
    if text.is_empty() {
        return Bytes::from(format!("[{value}]"));
    }
    if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text) {
        return Bytes::from(prepend(&value, &items));
    }
    if let Ok(mut object) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
    {
        if let Some(serde_json::Value::Array(args)) = object.get_mut("args") {
            if let Ok(v) = serde_json::from_str(&value) {
                args.insert(0, v);
                return Bytes::from(serde_json::Value::Object(object).to_string());
            }
        }
    }
    Bytes::from(format!("[{value},{}]", json_of(payload)))
}

fn prepend(value: &str, items: &[&RawValue]) -> String {
    let mut out = format!("[{value}");
    for item in items {
        out.push(',');
        out.push_str(item.get());
    }
    out.push(']');
    out
}

impl Engine {
    /// The links of a new step enqueued as the `index`-th task of `ctx`'s command: the
    /// indexes of the steps it feeds become their keys, which the same command gives them.
    pub(super) fn new_flow_node(flow: &NewFlow, ctx: Ctx) -> FlowNode {
        let feeds = flow
            .feeds
            .iter()
            .map(|&(index, slot)| (ctx.sub_id(index), slot))
            .collect();
        FlowNode::new(flow.inputs as usize, feeds, flow.workflow)
    }

    /// After a workflow's steps were created: the steps that waited for one that ended at once
    /// (revoked on arrival) are revoked too.
    pub(super) fn settle_arrivals(&mut self, keys: &[u64], ctx: Ctx, out: &mut Outcome) {
        for &key in keys {
            let state = self.tasks.get(&key).map(|m| m.state);
            if let Some(state) = state.filter(|s| s.is_terminal() && *s != TaskState::Succeeded) {
                self.flow_ended(key, state, ctx, out);
            }
        }
    }

    /// Before a step's success is written: its result fills the slots it feeds, and each step
    /// whose last slot that was becomes READY.
    pub(super) fn flow_succeeded(
        &mut self,
        key: u64,
        result: Option<&TaskResult>,
        ctx: Ctx,
        out: &mut Outcome,
    ) {
        let feeds = self.feeds(key);
        let value = result.map(|r| r.value.clone()).unwrap_or_default();
        for (to, slot) in feeds {
            let Some(next) = self.tasks.get_mut(&to) else {
                continue;
            };
            if next.state != TaskState::Waiting {
                continue;
            }
            out.writes.push(Write::FlowInput {
                key: to,
                slot,
                value: value.clone(),
            });
            let Some(flow) = next.cold_mut().flow.as_deref_mut() else {
                continue;
            };
            flow.fill(slot);
            if flow.missing() == 0 {
                self.transition(to, TaskState::Ready, Change::default(), ctx, out);
            }
        }
    }

    /// After a step ended without success (`how`): the steps that wait for it are revoked,
    /// naming it, and so on down the workflow.
    pub(super) fn flow_ended(&mut self, key: u64, how: TaskState, ctx: Ctx, out: &mut Outcome) {
        let Some(meta) = self.tasks.get(&key) else {
            return;
        };
        let why = match meta.error() {
            Some(error) => format!("{}: {}", error.kind, error.message),
            None => how.name().to_owned(),
        };
        let cause = TaskError {
            kind: "ParentFailed".into(),
            message: format!(
                "a step it waited for, {} ({}), ended {}: {why}",
                meta.id,
                meta.name,
                how.name()
            ),
        };
        for (to, _) in self.feeds(key) {
            let Some(next) = self.tasks.get_mut(&to) else {
                continue;
            };
            if next.state != TaskState::Waiting {
                continue;
            }
            next.cold_mut().error = Some(cause.clone());
            self.transition(to, TaskState::Revoked, Change::default(), ctx, out);
        }
    }

    fn feeds(&self, key: u64) -> Vec<(u64, u32)> {
        self.tasks
            .get(&key)
            .and_then(|m| m.cold().flow.as_ref())
            .map(|f| f.feeds.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{assemble, InputShape, Shape};

    fn slots(values: &[&str]) -> Vec<Option<Bytes>> {
        values
            .iter()
            .map(|v| Some(Bytes::copy_from_slice(v.as_bytes())))
            .collect()
    }

    fn partial(shape: Shape) -> InputShape {
        InputShape {
            shape,
            immutable: false,
        }
    }

    fn text(bytes: &Bytes) -> &str {
        std::str::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn a_result_goes_first_among_the_positional_arguments() {
        let one = partial(Shape::Slot(0));
        let got = |payload: &str| {
            let payload = Bytes::copy_from_slice(payload.as_bytes());
            assemble(&payload, &one, &slots(&["5"]))
        };
        assert_eq!(text(&got("")), "[5]");
        assert_eq!(
            text(&got("[1, \"a\", 12345678901234567890]")),
            "[5,1,\"a\",12345678901234567890]"
        );
        assert_eq!(text(&got("{\"x\": 1}")), "[5,{\"x\": 1}]");
        assert_eq!(text(&got("7")), "[5,7]");
        assert_eq!(
            text(&got("{\"args\": [2], \"kwargs\": {\"k\": 1}}")),
            "{\"args\":[5,2],\"kwargs\":{\"k\":1}}"
        );
    }

    #[test]
    fn a_group_s_results_come_as_a_list_in_order_nested_as_the_groups_are() {
        let shape = Shape::List(vec![
            Shape::Slot(0),
            Shape::List(vec![Shape::Slot(1), Shape::Slot(2)]),
        ]);
        let payload = Bytes::new();
        let got = assemble(
            &payload,
            &partial(shape),
            &slots(&["1", "\"two\"", "{\"n\":3}"]),
        );
        assert_eq!(text(&got), "[[1,[\"two\",{\"n\":3}]]]");
    }

    #[test]
    fn results_that_are_not_json_come_as_strings_and_none_as_null() {
        let shape = Shape::List(vec![Shape::Slot(0), Shape::Slot(1)]);
        let mut values = slots(&["plain text"]);
        values.push(Some(Bytes::new()));
        let got = assemble(&Bytes::new(), &partial(shape), &values);
        assert_eq!(text(&got), "[[\"plain text\",null]]");
    }

    #[test]
    fn an_immutable_step_gets_its_payload_unchanged() {
        let input = InputShape {
            shape: Shape::Slot(0),
            immutable: true,
        };
        let payload = Bytes::from_static(b"[1,2]");
        assert_eq!(assemble(&payload, &input, &slots(&["9"])), payload);
    }

    #[test]
    fn shapes_survive_their_text() {
        let shape = Shape::List(vec![Shape::Slot(0), Shape::List(vec![]), Shape::Slot(7)]);
        assert_eq!(shape.encode(), "[0,[],7]");
        assert_eq!(Shape::decode(&shape.encode()), Some(shape));
        assert_eq!(Shape::decode("\"x\""), None);
        assert_eq!(Shape::decode("-1"), None);
    }
}
