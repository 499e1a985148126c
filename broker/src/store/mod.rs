//! The store: the durable truth, in one sled tree. It alone knows sled; it turns the engine's
//! [`Write`]s into records and rebuilds the engine's input on start.
//!
//! Layout (see `keys`): `0x01 name` broker-wide values, `0x02 key` a task's state record
//! (rewritten on each change), `0x03 key` a task's body (written once), `0x04 key` a schedule,
//! `0x05 scope` a limit, `0x06 rule` a remembered revocation, `0x07 seq` a command's events, `0x08 queue` a paused queue, `0x09 key slot` a workflow step's input, `0x0a key` a workflow. The hot path is one batch per command: enqueue writes state + body, a
//! lease or ack rewrites the state.
//!
//! # Files
//! - this file: [`Store`]: apply the engine's writes, read bodies and results.
//! - `open.rs`: opening, and refusing a damaged or rolled-back data dir.
//! - `error.rs`: [`StoreError`].
//! - `keys.rs`: the key encodings.
//! - `records.rs`: a task's state and body records.
//! - `schedule_records.rs`, `limit_records.rs`, `revocation_records.rs`: the records of
//!   schedules, limits and remembered revocations.
//! - `events.rs`, `event_records.rs`: the event log's batches, and their records.
//! - `recovery.rs`: reading everything back on start ([`Recovered`]).
//! - `commit.rs`: group commit ([`GroupCommit`]).
//! - `close.rs`: closing a failed store so that it can be opened again.
//! - `space.rs`: the free-space watermark ([`FreeSpace`]).
//! - `workflow_records.rs`: the records of workflows (their inputs are `FLOW_INPUT` keys).
//! - `commit_mark.rs`: the commit mark, which tells a start that sled lost acknowledged writes.
//! - `check.rs`: the offline check of a data dir (`stalkd check`).

mod check;
mod close;
mod commit;
mod commit_mark;
mod error;
mod event_records;
mod events;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
mod keys;
mod limit_records;
mod open;
mod records;
mod recovery;
mod revocation_records;
mod schedule_records;
mod space;
mod workflow_records;

use std::path::PathBuf;
use std::sync::Arc;

pub use check::{check, CheckReport};
pub use commit::{CommitHooks, GroupCommit};
use commit_mark::CommitMark;
pub use error::StoreError;
pub use events::EventBatch;
pub use recovery::Recovered;
pub use space::FreeSpace;

use bytes::Bytes;

use crate::engine::{Input, TaskBody, TaskResult, Write};

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The data directory.
    pub path: PathBuf,
    /// sled's page cache, bytes.
    pub cache_bytes: u64,
    /// sled's background flush interval, ms; bounds what the `fast` durability mode can lose.
    pub flush_every_ms: u64,
    /// New tasks are refused, and a store that failed is not reopened, while less than this
    /// many bytes are free on the data directory's file system; 0 turns the check off.
    pub min_free_bytes: u64,
    /// Open a data directory that lost acknowledged writes (see `commit_mark`) with what sled
    /// recovered, logging the loss, instead of refusing it.
    pub accept_data_loss: bool,
}

/// The sled database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    /// What it was opened with, so that it can be opened again after a failure.
    config: StoreConfig,
    /// The commit mark file, rewritten after every group commit.
    mark: Arc<CommitMark>,
    /// The number the first group commit of this store counts on from.
    mark_base: u64,
}

/// Where a command's writes go: into sled one by one, or into a batch sled applies whole.
trait Sink {
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
    fn remove(&mut self, key: &[u8]) -> Result<(), StoreError>;
}

impl Sink for &sled::Db {
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let tree: &sled::Tree = self;
        tree.insert(key, value)?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let tree: &sled::Tree = self;
        tree.remove(key)?;
        Ok(())
    }
}

impl Sink for sled::Batch {
    fn put(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.insert(key, value);
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), StoreError> {
        sled::Batch::remove(self, key);
        Ok(())
    }
}

impl Store {
    /// Applies the writes of one command (not yet flushed), in order.
    ///
    /// Not one sled batch: sled seals and writes its I/O buffer for every batch, which costs a
    /// write and a `sync_file_range` per command. Single writes reach the log in order and sled
    /// recovers a prefix of its log, so each task stays consistent: a body is written before
    /// its state, and a state is removed before its body (`recover` drops orphan bodies).
    ///
    /// Takes the writes by value so payloads and results move into their records uncopied.
    ///
    /// # Errors
    /// [`StoreError::Io`] when sled fails.
    pub fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut sink = &self.db;
        for write in writes {
            self.write(write, &mut sink)?;
        }
        Ok(())
    }

    /// One write, into `sink`.
    fn write(&self, write: Write, sink: &mut impl Sink) -> Result<(), StoreError> {
        match write {
            Write::Insert(insert) => {
                let (meta, body) = *insert;
                sink.put(
                    &keys::task_key(keys::BODY, meta.key),
                    records::encode_body(body),
                )?;
                sink.put(
                    &keys::task_key(keys::STATE, meta.key),
                    records::encode_state(&meta, None),
                )?;
            }
            Write::Update(update) => {
                let (meta, result) = *update;
                sink.put(
                    &keys::task_key(keys::STATE, meta.key),
                    records::encode_state(&meta, result),
                )?;
            }
            Write::Delete(key) => {
                sink.remove(&keys::task_key(keys::STATE, key))?;
                sink.remove(&keys::task_key(keys::BODY, key))?;
            }
            Write::DeleteFlowInputs(key) => {
                self.remove_prefix(&keys::task_key(keys::FLOW_INPUT, key), sink)?;
            }
            Write::PutWorkflow(workflow) => {
                sink.put(
                    &keys::task_key(keys::WORKFLOW, workflow.key),
                    workflow_records::encode_workflow(&workflow),
                )?;
            }
            Write::DeleteWorkflow(key) => {
                sink.remove(&keys::task_key(keys::WORKFLOW, key))?;
                self.remove_prefix(&keys::task_key(keys::GRAFT, key), sink)?;
            }
            Write::PutGraft { workflow, graft } => {
                sink.put(
                    &keys::graft_key(workflow, graft.first),
                    workflow_records::encode_graft(&graft),
                )?;
            }
            Write::Atomic(writes) => {
                let mut batch = sled::Batch::default();
                for write in writes {
                    self.write(write, &mut batch)?;
                }
                self.db.apply_batch(batch)?;
            }
            Write::FlowInput { key, slot, input } => {
                sink.put(
                    &keys::flow_input_key(key, slot),
                    records::encode_flow_input(&input),
                )?;
            }
            Write::PutSchedule(schedule) => {
                sink.put(
                    &keys::task_key(keys::SCHEDULE, schedule.key),
                    schedule_records::encode_schedule(&schedule),
                )?;
            }
            Write::DeleteSchedule(key) => {
                sink.remove(&keys::task_key(keys::SCHEDULE, key))?;
            }
            Write::Revocation(rule, until) => {
                let key = revocation_records::revocation_key(&rule);
                match until {
                    Some(until) => {
                        sink.put(&key, revocation_records::encode_revocation(until))?;
                    }
                    None => sink.remove(&key)?,
                }
            }
            Write::PauseQueue(queue, paused) => {
                let key = keys::paused_key(&queue);
                if paused {
                    sink.put(&key, vec![records::V1])?;
                } else {
                    sink.remove(&key)?;
                }
            }
            Write::PutLimit(limit_key, limit) => {
                let key = limit_records::limit_key(&limit_key);
                match limit {
                    Some(limit) => {
                        sink.put(&key, limit_records::encode_limit(&limit_key, &limit))?;
                    }
                    None => sink.remove(&key)?,
                }
            }
        }
        Ok(())
    }

    /// Removes every stored key that starts with `prefix` (as stored before this command: a
    /// batch does not see its own writes).
    fn remove_prefix(&self, prefix: &[u8], sink: &mut impl Sink) -> Result<(), StoreError> {
        for entry in self.db.scan_prefix(prefix) {
            let (k, _) = entry?;
            sink.remove(&k)?;
        }
        Ok(())
    }

    /// A task's payload.
    ///
    /// # Errors
    /// [`StoreError::Io`], or a decoding error for a damaged record.
    pub fn body(&self, key: u64) -> Result<Option<TaskBody>, StoreError> {
        let k = keys::task_key(keys::BODY, key);
        self.db
            .get(k)?
            // The body's payload stays in sled's buffer, shared, until the task is sent.
            .map(|bytes| records::decode_body(&k, bytes::Bytes::from_owner(bytes)))
            .transpose()
    }

    /// The inputs of a workflow step with `slots` input slots, by slot (`None`: not filled).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn flow_inputs(&self, key: u64, slots: usize) -> Result<Vec<Option<Input>>, StoreError> {
        let mut inputs = vec![None; slots];
        for entry in self.db.scan_prefix(keys::task_key(keys::FLOW_INPUT, key)) {
            let (k, value) = entry?;
            let slot = keys::decode_flow_input_key(&k).map(|(_, slot)| slot as usize);
            if let Some(input) = slot.and_then(|slot| inputs.get_mut(slot)) {
                *input = Some(records::decode_flow_input(&k, Bytes::from_owner(value))?);
            }
        }
        Ok(inputs)
    }

    /// A succeeded task's result.
    ///
    /// # Errors
    /// [`StoreError::Io`], or a decoding error for a damaged record.
    pub fn result(&self, key: u64) -> Result<Option<TaskResult>, StoreError> {
        let k = keys::task_key(keys::STATE, key);
        match self.db.get(k)? {
            Some(bytes) => Ok(records::decode_state(&k, &bytes)?.1),
            None => Ok(None),
        }
    }

    /// Durably records that sequence numbers up to `bound` may be used, and flushes, so a
    /// restarted broker never reuses a lease id.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the write or flush fails.
    pub fn reserve_seq(&self, bound: u64) -> Result<(), StoreError> {
        self.db.insert(keys::SEQ_RESERVED, &bound.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Flushes everything written so far.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the flush fails.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// A group-commit flusher for this store, running on the current tokio runtime, calling
    /// `hooks` around every flush.
    ///
    /// # Errors
    /// [`StoreError::NoRuntime`] when called outside a tokio runtime.
    pub fn group_commit(
        &self,
        hooks: Option<Arc<dyn CommitHooks>>,
    ) -> Result<GroupCommit, StoreError> {
        GroupCommit::start(self.db.clone(), self.mark.clone(), self.mark_base, hooks)
    }
}
