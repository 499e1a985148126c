//! The stored form of a workflow: a versioned prost record under `WORKFLOW ++ key`.

use bytes::Bytes;
use prost::Message;

use super::records::{unversioned, versioned};
use super::StoreError;
use crate::engine::{TaskId, Workflow};

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
        };
        assert_eq!(
            decode_workflow(b"k", &encode_workflow(&workflow)).unwrap(),
            workflow
        );
        assert!(decode_workflow(b"k", &[1, 0xff, 0xff]).is_err());
    }
}
