//! The state behind the engine lock ([`Core`]: the engine, the sequencer and the open store),
//! and the small types a command passes through on its way to the disk.

use std::sync::Arc;

use super::event_log::{BrokerHooks, EventLog};
use super::{BrokerError, Failure, SEQ_BLOCK};
use crate::engine::{Engine, EngineConfig, Outcome};
use crate::stats::BrokerStats;
use crate::store::{GroupCommit, Store, StoreConfig, StoreError};

/// Everything a command changes, behind the engine lock.
pub(super) struct Core {
    pub(super) engine: Engine,
    pub(super) next_seq: u64,
    pub(super) reserved: u64,
    /// The open store; `None` only while a failed broker reopens it (see `failure.rs`).
    pub(super) storage: Option<Storage>,
    /// The events of the open store, pending and stored (shared with its group commit).
    pub(super) events: Arc<EventLog>,
    /// Counts reopens of the store. A flush that fails reports the epoch it was waited for in,
    /// so a late failure of the old store never fails the reopened one.
    pub(super) epoch: u64,
}

/// The store and its group commit, replaced together when the store is reopened.
pub(super) struct Storage {
    pub(super) store: Arc<Store>,
    pub(super) commit: GroupCommit,
}

impl Core {
    /// Recovers the engine from `store` (at start, and after a reopen); also returns how many
    /// tasks were read back. A store that cannot be read back is closed with
    /// [`Store::close`]: dropping it could hang for good after a failed write.
    pub(super) fn load(
        store: Store,
        engine_config: EngineConfig,
        epoch: u64,
        stats: Option<Arc<BrokerStats>>,
    ) -> Result<(Self, usize), BrokerError> {
        let store = Arc::new(store);
        let read = read_back(&store, engine_config, stats);
        let (engine, next_seq, tasks, commit, events) = match read {
            Ok(read) => read,
            Err(err) => {
                if let Err(stuck) = store.close() {
                    tracing::error!(cause = %stuck, "closing a store that could not be read back");
                }
                return Err(err);
            }
        };
        let core = Self {
            engine,
            next_seq,
            reserved: next_seq + SEQ_BLOCK,
            storage: Some(Storage { store, commit }),
            events,
            epoch,
        };
        Ok((core, tasks))
    }

    /// The open store and its group commit.
    ///
    /// # Errors
    /// [`StoreError::Reopening`] while a failed broker reopens it.
    pub(super) fn storage(&self, settings: &Settings) -> Result<&Storage, StoreError> {
        self.storage.as_ref().ok_or_else(|| settings.reopening())
    }
}

/// What the broker was opened with, to open its store again after a failure.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) store: StoreConfig,
    pub(super) engine: EngineConfig,
    /// The metrics, when the broker serves them; kept across reopens of the store.
    pub(super) stats: Option<Arc<BrokerStats>>,
}

impl Settings {
    /// The error for a store that is closed to be reopened.
    pub(super) fn reopening(&self) -> StoreError {
        StoreError::Reopening {
            path: self.store.path.clone(),
        }
    }
}

/// Why writes are refused, if they are; see `failure.rs`.
#[derive(Debug, Default)]
pub(super) struct FailState {
    /// The first failure since the store was (re)opened.
    pub(super) failure: Option<Failure>,
    /// The core's epoch: failures of an older store are not recorded.
    pub(super) epoch: u64,
}

/// A durable command's wait for its flush, taken under the engine lock.
pub(super) struct Flush {
    pub(super) commit: GroupCommit,
    pub(super) ticket: u64,
    pub(super) epoch: u64,
}

/// A command applied: its outcome, the flush to wait for (when it must be durable) and, for a
/// lease, the store its bodies are read from.
pub(super) struct Applied {
    pub(super) outcome: Outcome,
    pub(super) flush: Option<Flush>,
    pub(super) store: Option<Arc<Store>>,
}

/// Rebuilds the engine from `store`, reserves the first block of sequence numbers and starts
/// group commit; returns the engine, the next sequence number, how many tasks there were, the
/// group commit and the index of the stored events.
fn read_back(
    store: &Arc<Store>,
    engine_config: EngineConfig,
    stats: Option<Arc<BrokerStats>>,
) -> Result<(Engine, u64, usize, GroupCommit, Arc<EventLog>), BrokerError> {
    let recovered = store.recover()?;
    super::log_recovered(&recovered.tasks);
    let tasks = recovered.tasks.len();
    let next_seq = recovered.next_seq.max(1);
    let events = Arc::new(EventLog::recovered(
        recovered.event_floor,
        recovered.event_batches,
    ));
    let mut engine = Engine::recover(engine_config, recovered.tasks);
    engine.restore_schedules(recovered.schedules);
    engine.restore_limits(recovered.limits);
    engine.restore_revocations(recovered.revocations);
    engine.restore_workflows(recovered.workflows);
    engine.restore_pauses(recovered.paused);
    store.reserve_seq(next_seq + SEQ_BLOCK)?;
    let hooks = BrokerHooks {
        events: events.clone(),
        store: Arc::downgrade(store),
        stats,
    };
    let commit = store.group_commit(Some(Arc::new(hooks)))?;
    Ok((engine, next_seq, tasks, commit, events))
}
