//! Record encodings: a leading version byte, then a prost message. A reader that meets an
//! unknown version refuses it with [`StoreError::UnknownRecordVersion`] instead of guessing.
#![warn(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use super::StoreError;
use crate::engine::{
    FlowMode, FlowNode, Input, InputShape, Shape, TaskBody, TaskCold, TaskError, TaskId, TaskMeta,
    TaskOptions, TaskResult, TaskState, DEFAULT_MAX_LOST_ATTEMPTS,
};

/// More inputs than any workflow step can have (the service bounds a workflow's size far
/// below): a record that says so is damaged.
const MAX_FLOW_INPUTS: u32 = 1 << 20;

/// The version byte of every record this broker writes.
pub(crate) const V1: u8 = 1;

/// A task's metadata, state and (once it succeeded) result.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct StateRecord {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    queue: String,
    #[prost(uint32, tag = "4")]
    priority: u32,
    #[prost(uint32, tag = "5")]
    state: u32,
    #[prost(uint32, tag = "6")]
    attempts: u32,
    #[prost(uint32, tag = "7")]
    retries_used: u32,
    #[prost(uint32, tag = "8")]
    max_retries: u32,
    #[prost(uint64, tag = "9")]
    retry_backoff_ms: u64,
    #[prost(uint64, tag = "10")]
    retry_backoff_max_ms: u64,
    #[prost(uint64, tag = "11")]
    lease_ms: u64,
    #[prost(uint64, optional, tag = "12")]
    expires_at_ms: Option<u64>,
    #[prost(string, optional, tag = "13")]
    unique_key: Option<String>,
    #[prost(uint64, tag = "14")]
    ready_seq: u64,
    #[prost(uint64, tag = "15")]
    due_ms: u64,
    #[prost(uint64, tag = "16")]
    last_lease_id: u64,
    #[prost(uint64, tag = "17")]
    enqueued_ms: u64,
    #[prost(uint64, tag = "18")]
    started_ms: u64,
    #[prost(uint64, tag = "19")]
    finished_ms: u64,
    #[prost(uint64, tag = "20")]
    purge_at_ms: u64,
    #[prost(message, optional, tag = "21")]
    error: Option<ErrorRecord>,
    #[prost(message, optional, tag = "22")]
    result: Option<ResultRecord>,
    #[prost(uint64, tag = "23")]
    payload_size: u64,
    #[prost(uint64, tag = "24")]
    key: u64,
    #[prost(uint64, tag = "25")]
    lease_id: u64,
    #[prost(uint64, tag = "26")]
    lease_deadline_ms: u64,
    #[prost(uint32, tag = "27")]
    lost_attempts: u32,
    /// 0 in records written before the option existed: the default.
    #[prost(uint32, tag = "28")]
    max_lost_attempts: u32,
    /// The task's headers (its stored body has none).
    #[prost(btree_map = "string, string", tag = "29")]
    headers: BTreeMap<String, String>,
    /// A workflow step: its input slots (which are filled is read from the inputs stored).
    #[prost(uint32, tag = "30")]
    flow_inputs: u32,
    /// A workflow step: the steps its result goes to, and their slots (same length).
    #[prost(uint64, repeated, tag = "31")]
    flow_feed_keys: Vec<u64>,
    #[prost(uint32, repeated, tag = "32")]
    flow_feed_slots: Vec<u32>,
    /// Whether the task is a workflow step (one with no inputs and no feeds, too).
    #[prost(bool, tag = "33")]
    flow: bool,
    /// A workflow step: its workflow's key.
    #[prost(uint64, tag = "34")]
    flow_workflow: u64,
    /// A workflow step: what it does with a failed input (`FlowMode::code`).
    #[prost(uint32, tag = "35")]
    flow_mode: u32,
    /// A replaced task: how its replacement's results (its last input slots) make its result
    /// (`canvas::Shape::encode`, slots counted from the first of them).
    #[prost(string, optional, tag = "36")]
    flow_forward: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ErrorRecord {
    #[prost(string, tag = "1")]
    kind: String,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, PartialEq, Message)]
struct ResultRecord {
    #[prost(bytes = "bytes", tag = "1")]
    value: Bytes,
    #[prost(string, tag = "2")]
    content_type: String,
}

/// A task's payload and headers.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct BodyRecord {
    #[prost(bytes = "bytes", tag = "1")]
    payload: Bytes,
    #[prost(string, tag = "2")]
    content_type: String,
    #[prost(btree_map = "string, string", tag = "3")]
    headers: BTreeMap<String, String>,
    #[prost(uint64, tag = "4")]
    soft_time_limit_ms: u64,
    #[prost(uint64, tag = "5")]
    time_limit_ms: u64,
    /// A workflow step's input shape (`canvas::Shape::encode`).
    #[prost(string, optional, tag = "6")]
    input_shape: Option<String>,
    #[prost(bool, tag = "7")]
    input_immutable: bool,
    #[prost(bool, tag = "8")]
    input_errback: bool,
}

impl BodyRecord {
    /// The record of a body.
    pub(crate) fn from_body(body: TaskBody) -> Self {
        Self {
            input_immutable: body.input.as_ref().is_some_and(|i| i.immutable),
            input_errback: body.input.as_ref().is_some_and(|i| i.errback),
            input_shape: body.input.as_ref().map(|i| i.shape.encode()),
            payload: body.payload,
            content_type: body.content_type,
            headers: body.headers,
            soft_time_limit_ms: body.soft_time_limit_ms,
            time_limit_ms: body.time_limit_ms,
        }
    }

    /// The body of a record.
    pub(crate) fn into_body(self) -> TaskBody {
        let (immutable, errback) = (self.input_immutable, self.input_errback);
        TaskBody {
            input: self
                .input_shape
                .as_deref()
                .and_then(Shape::decode)
                .map(|shape| InputShape {
                    shape,
                    immutable,
                    errback,
                }),
            payload: self.payload,
            content_type: self.content_type,
            headers: self.headers,
            soft_time_limit_ms: self.soft_time_limit_ms,
            time_limit_ms: self.time_limit_ms,
        }
    }
}

/// A workflow step's input: the version byte, 1 if a failure filled it (else 0), then the
/// result or the failure's JSON.
pub(crate) fn encode_flow_input(input: &Input) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + input.value.len());
    out.push(V1);
    out.push(u8::from(input.failed));
    out.extend_from_slice(&input.value);
    out
}

/// Decodes a workflow step's input; its value is a slice of `bytes`, not a copy.
pub(crate) fn decode_flow_input(key: &[u8], bytes: Bytes) -> Result<Input, StoreError> {
    unversioned(key, &bytes)?;
    match bytes.get(1) {
        Some(&flag @ (0 | 1)) => Ok(Input {
            failed: flag == 1,
            value: bytes.slice(2..),
        }),
        _ => Err(StoreError::Corrupt {
            key: key.to_vec(),
            reason: "a workflow input without its failed flag".into(),
        }),
    }
}

/// A record with its version byte in front.
pub(crate) fn versioned(message: &impl Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + message.encoded_len());
    out.push(V1);
    message
        .encode(&mut out)
        .expect("invariant: Vec grows as needed");
    out
}

/// A record's body after its version byte, if this broker knows the version.
pub(crate) fn unversioned<'a>(key: &[u8], bytes: &'a [u8]) -> Result<&'a [u8], StoreError> {
    match bytes.split_first() {
        Some((&V1, rest)) => Ok(rest),
        Some((&version, _)) => Err(StoreError::UnknownRecordVersion {
            key: key.to_vec(),
            version,
        }),
        None => Err(StoreError::Corrupt {
            key: key.to_vec(),
            reason: "empty record".into(),
        }),
    }
}

fn corrupt(key: &[u8]) -> impl FnOnce(prost::DecodeError) -> StoreError + '_ {
    move |err| StoreError::Corrupt {
        key: key.to_vec(),
        reason: err.to_string(),
    }
}

/// Encodes a task's state record, with its result when it has one.
pub(crate) fn encode_state(meta: &TaskMeta, result: Option<TaskResult>) -> Vec<u8> {
    let cold = meta.cold();
    let lease = meta.lease();
    let record = StateRecord {
        key: meta.key,
        id: meta.id.to_string(),
        name: meta.name.to_string(),
        queue: meta.queue.to_string(),
        priority: u32::from(meta.priority),
        state: u32::from(meta.state.code()),
        attempts: meta.attempts,
        retries_used: cold.retries_used,
        lost_attempts: cold.lost_attempts,
        max_retries: meta.options.max_retries,
        max_lost_attempts: meta.options.max_lost_attempts,
        retry_backoff_ms: u64::from(meta.options.retry_backoff_ms),
        retry_backoff_max_ms: u64::from(meta.options.retry_backoff_max_ms),
        lease_ms: u64::from(meta.options.lease_ms),
        expires_at_ms: cold.expires_at_ms,
        unique_key: cold.unique_key.as_deref().map(str::to_string),
        ready_seq: meta.ready_seq,
        due_ms: if lease.is_some() { 0 } else { meta.due_ms },
        last_lease_id: cold.last_lease_id,
        enqueued_ms: meta.enqueued_ms,
        started_ms: cold.started_ms,
        finished_ms: cold.finished_ms,
        purge_at_ms: cold.purge_at_ms,
        error: cold.error.as_ref().map(|e| ErrorRecord {
            kind: e.kind.clone(),
            message: e.message.clone(),
        }),
        result: result.map(|r| ResultRecord {
            value: r.value,
            content_type: r.content_type,
        }),
        payload_size: u64::from(meta.payload_size),
        lease_id: lease.map_or(0, |l| l.id),
        lease_deadline_ms: lease.map_or(0, |l| l.deadline_ms),
        headers: cold
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        flow: cold.flow.is_some(),
        flow_workflow: cold.flow.as_ref().map_or(0, |f| f.workflow),
        flow_mode: cold.flow.as_ref().map_or(0, |f| f.mode.code()),
        flow_inputs: cold
            .flow
            .as_ref()
            .map_or(0, |f| u32::try_from(f.inputs()).unwrap_or(u32::MAX)),
        flow_feed_keys: cold
            .flow
            .as_ref()
            .map(|f| f.feeds.iter().map(|&(key, _)| key).collect())
            .unwrap_or_default(),
        flow_feed_slots: cold
            .flow
            .as_ref()
            .map(|f| f.feeds.iter().map(|&(_, slot)| slot).collect())
            .unwrap_or_default(),
        flow_forward: cold
            .flow
            .as_ref()
            .and_then(|f| f.forward.as_ref())
            .map(|f| f.shape.encode()),
    };
    versioned(&record)
}

/// Decodes a state record into the task and its result, if it has one.
pub(crate) fn decode_state(
    key: &[u8],
    bytes: &[u8],
) -> Result<(TaskMeta, Option<TaskResult>), StoreError> {
    let record = StateRecord::decode(unversioned(key, bytes)?).map_err(corrupt(key))?;
    let state = u8::try_from(record.state)
        .ok()
        .and_then(TaskState::from_code)
        .ok_or_else(|| StoreError::Corrupt {
            key: key.to_vec(),
            reason: format!("unknown task state code {}", record.state),
        })?;
    if record.flow_inputs > MAX_FLOW_INPUTS
        || record.flow_feed_keys.len() != record.flow_feed_slots.len()
    {
        return Err(StoreError::Corrupt {
            key: key.to_vec(),
            reason: format!(
                "a workflow step with {} inputs and {} feed keys for {} slots",
                record.flow_inputs,
                record.flow_feed_keys.len(),
                record.flow_feed_slots.len()
            ),
        });
    }
    let mode = FlowMode::from_code(record.flow_mode).ok_or_else(|| StoreError::Corrupt {
        key: key.to_vec(),
        reason: format!("unknown workflow step mode {}", record.flow_mode),
    })?;
    let forward = match (mode, &record.flow_forward) {
        (FlowMode::Forward, Some(text)) => {
            Some(Shape::decode(text).ok_or_else(|| StoreError::Corrupt {
                key: key.to_vec(),
                reason: format!("a replaced task's result shape {text:?} does not decode"),
            })?)
        }
        (FlowMode::Forward, None) => {
            return Err(StoreError::Corrupt {
                key: key.to_vec(),
                reason: "a replaced task without its result shape".into(),
            })
        }
        _ => None,
    };
    let flow = if record.flow {
        let feeds = record
            .flow_feed_keys
            .iter()
            .copied()
            .zip(record.flow_feed_slots.iter().copied())
            .collect();
        let inputs = record.flow_inputs as usize;
        let node = match forward {
            Some(shape) => FlowNode::forwarding(inputs, feeds, record.flow_workflow, shape)
                .ok_or_else(|| StoreError::Corrupt {
                    key: key.to_vec(),
                    reason: format!("a replaced task's result takes more than its {inputs} slots"),
                })?,
            None => FlowNode::new(inputs, feeds, record.flow_workflow, mode),
        };
        Some(Box::new(node))
    } else {
        None
    };
    let priority = u8::try_from(record.priority.min(9)).unwrap_or(9);
    // Stored values were bounded by the service when the task was enqueued.
    let narrow = |ms: u64| u32::try_from(ms).unwrap_or(u32::MAX);
    let leased = state == TaskState::Leased && record.lease_id != 0;
    let cold = TaskCold {
        retries_used: record.retries_used,
        lost_attempts: record.lost_attempts,
        expires_at_ms: record.expires_at_ms,
        unique_key: record.unique_key.map(Arc::from),
        lease_id: if leased { record.lease_id } else { 0 },
        prefetched: false,
        last_lease_id: record.last_lease_id,
        started_ms: record.started_ms,
        ready_ms: 0,
        finished_ms: record.finished_ms,
        purge_at_ms: record.purge_at_ms,
        error: record.error.map(|e| TaskError {
            kind: e.kind,
            message: e.message,
        }),
        headers: record
            .headers
            .into_iter()
            .map(|(name, value)| (Arc::from(name), Arc::from(value)))
            .collect(),
        // Which inputs are filled, recovery reads from the inputs stored.
        flow,
    };
    let meta = TaskMeta {
        key: record.key,
        id: TaskId::new(&record.id),
        name: Arc::from(record.name),
        queue: Arc::from(record.queue),
        ready_seq: record.ready_seq,
        due_ms: if leased {
            record.lease_deadline_ms
        } else {
            record.due_ms
        },
        enqueued_ms: record.enqueued_ms,
        options: TaskOptions {
            max_retries: record.max_retries,
            retry_backoff_ms: narrow(record.retry_backoff_ms),
            retry_backoff_max_ms: narrow(record.retry_backoff_max_ms),
            lease_ms: narrow(record.lease_ms),
            max_lost_attempts: match record.max_lost_attempts {
                0 => DEFAULT_MAX_LOST_ATTEMPTS,
                n => n,
            },
        },
        attempts: record.attempts,
        payload_size: narrow(record.payload_size),
        priority,
        state,
        cold: (cold != TaskCold::default()).then(|| Box::new(cold)),
    };
    let result = record.result.map(|r| TaskResult {
        value: r.value,
        content_type: r.content_type,
    });
    Ok((meta, result))
}

/// Encodes a task's body.
pub(crate) fn encode_body(body: TaskBody) -> Vec<u8> {
    versioned(&BodyRecord::from_body(body))
}

/// Decodes a task's body.
/// Decodes a body record; its payload is a slice of `bytes`, not a copy.
pub(crate) fn decode_body(key: &[u8], bytes: Bytes) -> Result<TaskBody, StoreError> {
    // Checks the version byte; the record follows it.
    unversioned(key, &bytes)?;
    let record = BodyRecord::decode(bytes.slice(1..)).map_err(corrupt(key))?;
    Ok(record.into_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TaskMeta {
        TaskMeta {
            key: 7,
            id: TaskId::new("t-1"),
            name: Arc::from("email.send"),
            queue: Arc::from("default"),
            ready_seq: 7,
            due_ms: 1234,
            enqueued_ms: 1,
            options: TaskOptions::default(),
            attempts: 2,
            payload_size: 3,
            priority: 5,
            state: TaskState::Retrying,
            cold: Some(Box::new(TaskCold {
                retries_used: 1,
                lost_attempts: 2,
                expires_at_ms: Some(99),
                unique_key: Some(Arc::from("u")),
                lease_id: 0,
                prefetched: false,
                last_lease_id: 42,
                started_ms: 2,
                ready_ms: 0,
                finished_ms: 0,
                purge_at_ms: 0,
                error: Some(TaskError {
                    kind: "Boom".into(),
                    message: "it broke".into(),
                }),
                headers: vec![(Arc::from("tenant"), Arc::from("acme"))],
                // Which inputs are filled is read from the stored inputs, not the record.
                flow: Some(Box::new(FlowNode::new(
                    2,
                    vec![(9, 0), (10, 3)],
                    11,
                    FlowMode::Partial,
                ))),
            })),
        }
    }

    #[test]
    fn state_records_round_trip_with_and_without_result() {
        let meta = sample();
        let result = TaskResult {
            value: Bytes::from_static(b"42"),
            content_type: "application/json".into(),
        };
        let bytes = encode_state(&meta, Some(result.clone()));
        assert_eq!(bytes.first(), Some(&V1), "records lead with their version");
        assert_eq!(
            decode_state(b"k", &bytes).unwrap(),
            (meta.clone(), Some(result))
        );
        assert_eq!(
            decode_state(b"k", &encode_state(&meta, None)).unwrap(),
            (meta, None)
        );
    }

    #[test]
    fn body_records_round_trip() {
        let body = TaskBody {
            payload: Bytes::from_static(&[0, 1, 2]),
            content_type: "application/octet-stream".into(),
            headers: BTreeMap::from([("tenant".to_string(), "a".to_string())]),
            soft_time_limit_ms: 1_000,
            time_limit_ms: 2_000,
            input: None,
        };
        assert_eq!(
            decode_body(b"k", encode_body(body.clone()).into()).unwrap(),
            body
        );
        let step = TaskBody {
            input: Some(InputShape {
                shape: Shape::List(vec![Shape::Slot(0), Shape::Slot(1)]),
                immutable: true,
                errback: true,
            }),
            ..body
        };
        assert_eq!(
            decode_body(b"k", encode_body(step.clone()).into()).unwrap(),
            step
        );
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors_not_panics() {
        let mut bytes = encode_state(&sample(), None);
        if let Some(version) = bytes.first_mut() {
            *version = 9;
        }
        assert!(matches!(
            decode_state(b"k", &bytes),
            Err(StoreError::UnknownRecordVersion { version: 9, .. })
        ));
        assert!(matches!(
            decode_state(b"k", &[]),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_state(b"k", &[V1, 0xff, 0xff, 0xff]),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
