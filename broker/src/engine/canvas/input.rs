//! How the outcomes a workflow step waited for make its payload (the rules are in
//! `tasks.proto`, above `message Canvas`).

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::value::RawValue;

/// One filled input slot, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Filled by a failure: `value` is `{"task_id": …, "error": {"kind": …, "message": …}}`.
    pub failed: bool,
    /// The result, or the failure.
    pub value: Bytes,
}

impl Input {
    /// A failure's input: the failed task's id and error, as JSON.
    pub fn failure(task_id: &str, kind: &str, message: &str) -> Self {
        let value = serde_json::json!({
            "task_id": task_id,
            "error": {"kind": kind, "message": message},
        });
        Self {
            failed: true,
            value: Bytes::from(value.to_string()),
        }
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

    /// How many slots it takes.
    pub fn slots(&self) -> usize {
        match self {
            Self::Slot(_) => 1,
            Self::List(items) => items.iter().map(Shape::slots).sum(),
        }
    }

    /// The JSON value the results in `slots` make.
    pub fn value(&self, slots: &[Option<Input>]) -> Bytes {
        let mut out = String::new();
        self.render(slots, &mut out);
        Bytes::from(out)
    }

    fn render(&self, slots: &[Option<Input>], out: &mut String) {
        match self {
            Self::Slot(slot) => {
                let value = usize::try_from(*slot)
                    .ok()
                    .and_then(|i| slots.get(i))
                    .and_then(Option::as_ref);
                out.push_str(&json_of(value.map_or(&[][..], |v| &v.value[..])));
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
    /// An error callback: its value is the first failure (`{"task_id", "error"}`), not the
    /// shape.
    pub errback: bool,
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
/// A failed input (under the partial policy) is `{"task_id": …, "error": {…}}` in its place;
/// an error callback's value is the first failure. An immutable step gets its payload
/// unchanged.
pub fn assemble(payload: &Bytes, input: &InputShape, slots: &[Option<Input>]) -> Bytes {
    if input.immutable {
        return payload.clone();
    }
    let mut value = String::new();
    if input.errback {
        let failure = slots.iter().flatten().find(|i| i.failed);
        value.push_str(&json_of(failure.map_or(&[][..], |f| &f.value[..])));
    } else {
        input.shape.render(slots, &mut value);
    }
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{assemble, Input, InputShape, Shape};

    fn slots(values: &[&str]) -> Vec<Option<Input>> {
        values
            .iter()
            .map(|v| {
                Some(Input {
                    failed: false,
                    value: Bytes::copy_from_slice(v.as_bytes()),
                })
            })
            .collect()
    }

    fn partial(shape: Shape) -> InputShape {
        InputShape {
            shape,
            immutable: false,
            errback: false,
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
        values.push(Some(Input {
            failed: false,
            value: Bytes::new(),
        }));
        let got = assemble(&Bytes::new(), &partial(shape), &values);
        assert_eq!(text(&got), "[[\"plain text\",null]]");
    }

    #[test]
    fn an_immutable_step_gets_its_payload_unchanged() {
        let input = InputShape {
            shape: Shape::Slot(0),
            immutable: true,
            errback: false,
        };
        let payload = Bytes::from_static(b"[1,2]");
        assert_eq!(assemble(&payload, &input, &slots(&["9"])), payload);
    }

    #[test]
    fn failures_take_their_place_and_an_error_callback_gets_the_first() {
        let mut values = slots(&["1"]);
        values.push(Some(Input::failure("t-2", "ValueError", "bad")));
        let shape = Shape::List(vec![Shape::Slot(0), Shape::Slot(1)]);
        let got = assemble(&Bytes::new(), &partial(shape.clone()), &values);
        assert_eq!(
            text(&got),
            r#"[[1,{"error":{"kind":"ValueError","message":"bad"},"task_id":"t-2"}]]"#
        );
        let errback = InputShape {
            errback: true,
            ..partial(shape)
        };
        let got = assemble(&Bytes::from_static(b"[\"extra\"]"), &errback, &values);
        assert_eq!(
            text(&got),
            r#"[{"error":{"kind":"ValueError","message":"bad"},"task_id":"t-2"},"extra"]"#
        );
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
