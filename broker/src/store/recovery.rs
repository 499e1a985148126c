//! The rebuild on start: read every state record back into engine tasks.

use std::collections::HashSet;

use super::keys::{
    self, decode_task_key, BODY, FLOW_INPUT, GRAFT, LIMIT, PAUSED, REVOCATION, SCHEDULE,
    SEQ_RESERVED, STATE, WORKFLOW,
};
use super::limit_records::decode_limit;
use super::records::{decode_flow_input, decode_state, unversioned};
use super::revocation_records::decode_revocation;
use super::schedule_records::decode_schedule;
use super::{EventBatch, Store, StoreError};
use crate::engine::limits::{Limit, LimitKey};
use crate::engine::schedules::Schedule;
use crate::engine::{RevokeRule, TaskMeta, Workflow};

/// What a store holds, ready for `Engine::recover`.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every stored task.
    pub tasks: Vec<TaskMeta>,
    /// Every stored schedule.
    pub schedules: Vec<Schedule>,
    /// Every stored limit.
    pub limits: Vec<(LimitKey, Limit)>,
    /// Every remembered revocation, with when it is forgotten.
    pub revocations: Vec<(RevokeRule, u64)>,
    /// The first sequence number that is safe to use: above every reserved or stored one.
    pub next_seq: u64,
    /// The paused queues.
    pub paused: Vec<String>,
    /// Events numbered below this were trimmed by retention.
    pub event_floor: u64,
    /// Every stored batch of events, oldest first.
    pub event_batches: Vec<EventBatch>,
    /// Every stored workflow.
    pub workflows: Vec<Workflow>,
}

/// The highest sequence number a stored task's ids were derived from: every such id lies below
/// (seq + 1) << SUB_BITS.
pub(super) fn highest_seq(task_key: u64, meta: &TaskMeta) -> u64 {
    task_key
        .max(meta.ready_seq)
        .max(meta.cold().lease_id)
        .max(meta.cold().last_lease_id)
        >> crate::engine::SUB_BITS
}

impl Store {
    /// Reads back every task and the sequence bound.
    ///
    /// # Errors
    /// [`StoreError::Io`] on read failure; [`StoreError::Corrupt`] or
    /// [`StoreError::UnknownRecordVersion`] for a record that cannot be decoded, and
    /// [`StoreError::Damaged`] when sled cannot read its own files (the broker does not start on
    /// a damaged store rather than silently drop tasks).
    pub fn recover(&self) -> Result<Recovered, StoreError> {
        super::open::reading(&self.config.path, || self.read_back())
    }

    fn read_back(&self) -> Result<Recovered, StoreError> {
        let reserved = match self.db.get(SEQ_RESERVED)? {
            Some(bytes) => {
                let array: [u8; 8] =
                    bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        key: SEQ_RESERVED.to_vec(),
                        reason: format!("expected 8 bytes, found {}", bytes.len()),
                    })?;
                u64::from_be_bytes(array)
            }
            None => 0,
        };
        let mut out = Recovered {
            tasks: Vec::new(),
            schedules: Vec::new(),
            limits: Vec::new(),
            revocations: Vec::new(),
            next_seq: reserved,
            paused: Vec::new(),
            event_floor: 0,
            event_batches: Vec::new(),
            workflows: Vec::new(),
        };
        for entry in self.db.scan_prefix([STATE]) {
            let (key, value) = entry?;
            let task_key =
                decode_task_key(keys::STATE, &key).ok_or_else(|| StoreError::Corrupt {
                    key: key.to_vec(),
                    reason: "malformed task key".into(),
                })?;
            let (meta, _) = decode_state(&key, &value)?;
            out.next_seq = out.next_seq.max(highest_seq(task_key, &meta) + 1);
            out.tasks.push(meta);
        }
        for entry in self.db.scan_prefix([SCHEDULE]) {
            let (key, value) = entry?;
            let schedule = decode_schedule(&key, &value)?;
            out.next_seq = out
                .next_seq
                .max((schedule.key >> crate::engine::SUB_BITS) + 1);
            out.schedules.push(schedule);
        }
        for entry in self.db.scan_prefix([WORKFLOW]) {
            let (key, value) = entry?;
            let workflow = super::workflow_records::decode_workflow(&key, &value)?;
            out.next_seq = out
                .next_seq
                .max((workflow.key >> crate::engine::SUB_BITS) + 1);
            out.workflows.push(workflow);
        }
        self.read_grafts(&mut out.workflows)?;
        for entry in self.db.scan_prefix([LIMIT]) {
            let (key, value) = entry?;
            out.limits.push(decode_limit(&key, &value)?);
        }
        for entry in self.db.scan_prefix([REVOCATION]) {
            let (key, value) = entry?;
            out.revocations.push(decode_revocation(&key, &value)?);
        }
        for entry in self.db.scan_prefix([PAUSED]) {
            let (key, value) = entry?;
            unversioned(&key, &value)?;
            let name = key.get(1..).and_then(|name| std::str::from_utf8(name).ok());
            let Some(name) = name else {
                return Err(StoreError::Corrupt {
                    key: key.to_vec(),
                    reason: "a paused queue's name is not UTF-8".into(),
                });
            };
            out.paused.push(name.to_owned());
        }
        (out.event_floor, out.event_batches) = self.read_event_index()?;
        if let Some(last) = out.event_batches.last() {
            out.next_seq = out
                .next_seq
                .max((last.first_seq >> crate::engine::SUB_BITS) + 1);
        }
        self.drop_orphan_bodies(&out.tasks)?;
        self.read_flow_inputs(&mut out.tasks)?;
        Ok(out)
    }

    /// Adds each stored graft to its workflow (`workflows` in key order, as read), in the order
    /// they were made; removes grafts whose workflow is gone (a crash inside a
    /// `Write::DeleteWorkflow`'s removes).
    fn read_grafts(&self, workflows: &mut [Workflow]) -> Result<(), StoreError> {
        for entry in self.db.scan_prefix([GRAFT]) {
            let (key, value) = entry?;
            let Some(workflow) = keys::decode_graft_key(&key) else {
                return Err(StoreError::Corrupt {
                    key: key.to_vec(),
                    reason: "malformed graft key".into(),
                });
            };
            let graft = super::workflow_records::decode_graft(&key, &value)?;
            match workflows.binary_search_by_key(&workflow, |w| w.key) {
                Ok(i) => {
                    if let Some(w) = workflows.get_mut(i) {
                        w.add_graft(graft);
                    }
                }
                Err(_) => {
                    tracing::warn!(key = ?key, "removing a graft without its workflow");
                    self.db.remove(key)?;
                }
            }
        }
        Ok(())
    }

    /// Marks the filled inputs of workflow steps (`tasks` in key order, as read); removes
    /// inputs whose step is gone (a crash inside a `Write::Delete`'s removes).
    fn read_flow_inputs(&self, tasks: &mut [TaskMeta]) -> Result<(), StoreError> {
        for entry in self.db.scan_prefix([FLOW_INPUT]) {
            let (key, value) = entry?;
            let Some((task, slot)) = keys::decode_flow_input_key(&key) else {
                return Err(StoreError::Corrupt {
                    key: key.to_vec(),
                    reason: "malformed workflow input key".into(),
                });
            };
            let flow = tasks
                .binary_search_by_key(&task, |t| t.key)
                .ok()
                .and_then(|i| tasks.get_mut(i))
                .and_then(|t| t.cold.as_deref_mut())
                .and_then(|c| c.flow.as_deref_mut());
            let input = decode_flow_input(&key, bytes::Bytes::from_owner(value))?;
            match flow {
                // A replaced task's own slots count as filled already: their inputs stay, for
                // a replay of the task.
                Some(flow) if (slot as usize) < flow.inputs() => {
                    flow.fill_with(slot, &input);
                }
                _ => {
                    tracing::warn!(key = ?key, "removing a workflow input without its step");
                    self.db.remove(key)?;
                }
            }
        }
        Ok(())
    }

    /// Removes bodies whose state record is gone: a crash between the two removes of a
    /// `Write::Delete` leaves one behind.
    fn drop_orphan_bodies(&self, tasks: &[TaskMeta]) -> Result<(), StoreError> {
        let live: HashSet<u64> = tasks.iter().map(|t| t.key).collect();
        for entry in self.db.scan_prefix([BODY]) {
            let (key, _) = entry?;
            if decode_task_key(BODY, &key).is_none_or(|k| !live.contains(&k)) {
                tracing::warn!(key = ?key, "removing a task body without a state record");
                self.db.remove(key)?;
            }
        }
        Ok(())
    }
}
