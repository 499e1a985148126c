//! The stored form of a workflow: a versioned prost record under `WORKFLOW ++ key`, and of
//! each graft made in it, under `GRAFT ++ workflow key ++ first task key`.

use bytes::Bytes;
use prost::Message;

use super::records::{unversioned, versioned};
use super::StoreError;
use crate::engine::{Graft, TaskId, Workflow};

#[derive(Clone, PartialEq, Message)]
struct WorkflowRecord {
    #[prost(uint64, tag = "1")]
    key: u64,
    #[prost(string, tag = "2")]
    id: String,
    /// Its tasks' keys, in canvas order.
    #[prost(uint64, repeated, tag = "3")]
    tasks: Vec<u64>,
    /// Its shape, as the service encoded it.
    #[prost(bytes = "bytes", tag = "4")]
    tree: Bytes,
}

/// Encodes a workflow.
pub(crate) fn encode_workflow(workflow: &Workflow) -> Vec<u8> {
    versioned(&WorkflowRecord {
        key: workflow.key,
        id: workflow.id.to_string(),
        tasks: workflow.tasks.clone(),
        tree: workflow.tree.clone(),
    })
}

/// Decodes a workflow record.
pub(crate) fn decode_workflow(key: &[u8], bytes: &[u8]) -> Result<Workflow, StoreError> {
    let record =
        WorkflowRecord::decode(unversioned(key, bytes)?).map_err(|err| StoreError::Corrupt {
            key: key.to_vec(),
            reason: err.to_string(),
        })?;
    Ok(Workflow {
        key: record.key,
        id: TaskId::new(&record.id),
        tasks: record.tasks,
        tree: record.tree,
        grafts: Vec::new(),
    })
}

#[derive(Clone, PartialEq, Message)]
struct GraftRecord {
    #[prost(uint64, tag = "1")]
    by: u64,
    #[prost(uint64, tag = "2")]
    first: u64,
    #[prost(uint32, tag = "3")]
    count: u32,
    #[prost(uint32, tag = "4")]
    replaced: u32,
    /// Its shape, as the service encoded it.
    #[prost(bytes = "bytes", tag = "5")]
    tree: Bytes,
}

/// Encodes a graft.
pub(crate) fn encode_graft(graft: &Graft) -> Vec<u8> {
    versioned(&GraftRecord {
        by: graft.by,
        first: graft.first,
        count: graft.count,
        replaced: graft.replaced,
        tree: graft.tree.clone(),
    })
}

/// Decodes a graft record.
pub(crate) fn decode_graft(key: &[u8], bytes: &[u8]) -> Result<Graft, StoreError> {
    let record =
        GraftRecord::decode(unversioned(key, bytes)?).map_err(|err| StoreError::Corrupt {
            key: key.to_vec(),
            reason: err.to_string(),
        })?;
    if record.replaced > record.count {
        return Err(StoreError::Corrupt {
            key: key.to_vec(),
            reason: format!(
                "a graft of {} tasks, {} of them a replacement",
                record.count, record.replaced
            ),
        });
    }
    Ok(Graft {
        by: record.by,
        first: record.first,
        count: record.count,
        replaced: record.replaced,
        tree: record.tree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflows_round_trip_and_garbage_is_refused() {
        let workflow = Workflow {
            key: 9,
            id: TaskId::new("wf-1"),
            tasks: vec![1, 2, 3],
            tree: Bytes::from_static(b"\x08\x01"),
            grafts: Vec::new(),
        };
        assert_eq!(
            decode_workflow(b"k", &encode_workflow(&workflow)).unwrap(),
            workflow
        );
        assert!(decode_workflow(b"k", &[1, 0xff, 0xff]).is_err());
    }

    #[test]
    fn grafts_round_trip_and_impossible_ones_are_refused() {
        let graft = Graft {
            by: 4,
            first: 1 << 20,
            count: 3,
            replaced: 2,
            tree: Bytes::from_static(b"\x12\x02\x08\x00"),
        };
        assert_eq!(decode_graft(b"k", &encode_graft(&graft)).unwrap(), graft);
        let impossible = Graft {
            replaced: 4,
            ..graft
        };
        assert!(decode_graft(b"k", &encode_graft(&impossible)).is_err());
    }
}
