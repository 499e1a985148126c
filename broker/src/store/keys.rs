//! Key encodings: one sled tree, a one-byte kind prefix, then big-endian numbers so sled's byte
//! order is the order we need (tasks by enqueue key).
#![warn(clippy::indexing_slicing)]

/// A task's metadata, state and result: rewritten on every state change.
pub(crate) const STATE: u8 = 0x02;
/// A task's payload: written once at enqueue.
pub(crate) const BODY: u8 = 0x03;
/// A periodic schedule, by its key.
pub(crate) const SCHEDULE: u8 = 0x04;
/// A limit, by its scope as text (and a keyed limit's header).
pub(crate) const LIMIT: u8 = 0x05;
/// A revocation remembered for tasks yet to arrive, by its rule.
pub(crate) const REVOCATION: u8 = 0x06;

/// A command's events, by the first one's sequence number.
pub(crate) const EVENTS: u8 = 0x07;

/// A paused queue, by its name (the value is only a version byte).
pub(crate) const PAUSED: u8 = 0x08;

/// The key of a paused queue.
pub(crate) fn paused_key(queue: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + queue.len());
    key.push(PAUSED);
    key.extend_from_slice(queue.as_bytes());
    key
}

/// A workflow step's input: `FLOW_INPUT ++ key ++ slot` (big-endian) holds the result of a
/// step before it.
pub(crate) const FLOW_INPUT: u8 = 0x09;

/// A workflow, by its key.
pub(crate) const WORKFLOW: u8 = 0x0a;

/// Work a task handed on to its workflow: `GRAFT ++ workflow key ++ first task key`
/// (big-endian), so a workflow's grafts are read back in the order they were made.
pub(crate) const GRAFT: u8 = 0x0b;

/// The key of the graft whose first task is `first`, in the workflow `workflow`.
pub(crate) fn graft_key(workflow: u64, first: u64) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[..9].copy_from_slice(&task_key(GRAFT, workflow));
    out[9..].copy_from_slice(&first.to_be_bytes());
    out
}

/// The workflow key of a `graft_key`.
pub(crate) fn decode_graft_key(bytes: &[u8]) -> Option<u64> {
    match bytes {
        [GRAFT, rest @ ..] if rest.len() == 16 => {
            Some(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?))
        }
        _ => None,
    }
}

/// The key of input `slot` of the step `key`.
pub(crate) fn flow_input_key(key: u64, slot: u32) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[..9].copy_from_slice(&task_key(FLOW_INPUT, key));
    out[9..].copy_from_slice(&slot.to_be_bytes());
    out
}

/// The (step, slot) of a `flow_input_key`.
pub(crate) fn decode_flow_input_key(bytes: &[u8]) -> Option<(u64, u32)> {
    match bytes {
        [FLOW_INPUT, rest @ ..] if rest.len() == 12 => {
            let (key, slot) = rest.split_at(8);
            Some((
                u64::from_be_bytes(key.try_into().ok()?),
                u32::from_be_bytes(slot.try_into().ok()?),
            ))
        }
        _ => None,
    }
}

/// Broker-wide values live under kind 0x01. The key of the highest sequence number the broker may use before it reserves more.
pub(crate) const SEQ_RESERVED: &[u8] = b"\x01seq_reserved";
/// The key of the event floor: events numbered below it were trimmed by retention.
pub(crate) const EVENTS_FLOOR: &[u8] = b"\x01events_floor";

/// `kind ++ key.to_be_bytes()`.
pub(crate) fn task_key(kind: u8, key: u64) -> [u8; 9] {
    let mut out = [0u8; 9];
    out[0] = kind;
    out[1..].copy_from_slice(&key.to_be_bytes());
    out
}

/// The task key of a `task_key`, if `bytes` is one of `kind`.
pub(crate) fn decode_task_key(kind: u8, bytes: &[u8]) -> Option<u64> {
    match bytes {
        [k, rest @ ..] if *k == kind => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn task_keys_round_trip(key: u64) {
            prop_assert_eq!(decode_task_key(STATE, &task_key(STATE, key)), Some(key));
            prop_assert_eq!(decode_task_key(BODY, &task_key(STATE, key)), None);
        }

        #[test]
        fn flow_input_keys_round_trip(key: u64, slot: u32) {
            prop_assert_eq!(decode_flow_input_key(&flow_input_key(key, slot)), Some((key, slot)));
            prop_assert_eq!(decode_flow_input_key(&task_key(FLOW_INPUT, key)), None);
        }

        #[test]
        fn byte_order_is_numeric_order(a: u64, b: u64) {
            prop_assert_eq!(task_key(STATE, a).cmp(&task_key(STATE, b)), a.cmp(&b));
        }
    }

    #[test]
    fn kinds_do_not_interleave() {
        assert!(task_key(STATE, u64::MAX) < task_key(BODY, 0));
        assert!(SEQ_RESERVED < task_key(STATE, 0).as_slice());
    }

    #[test]
    fn truncated_keys_are_refused_not_panicked_on() {
        assert_eq!(decode_task_key(STATE, &[STATE, 1, 2]), None);
        assert_eq!(decode_task_key(STATE, &[]), None);
    }
}
