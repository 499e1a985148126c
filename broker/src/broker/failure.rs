//! Failing and recovering. A write or flush that fails, or a driver that fails, stops all
//! writes: health turns NOT_SERVING and every write is refused with the first failure. A store
//! failure (above all a full disk) is not for good: sled refuses every write after its first
//! I/O error until it is reopened, so [`Broker::reopen`] closes the store, opens it again and
//! rebuilds the engine from it exactly as a start does, then takes writes again.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;

use super::{chain, Broker, BrokerError, Core, Failure};
use crate::engine::Timer;
use crate::store::{Store, StoreError};

impl Broker {
    /// Marks the broker failed by a storage error in the store opened at `epoch`: health turns
    /// NOT_SERVING and writes are refused until the store is reopened.
    pub(super) fn fail(&self, err: StoreError, epoch: u64) -> BrokerError {
        let err = err.name_full_disk(&self.settings.store.path);
        BrokerError::Failed(self.stop_writes(Failure::Store(Arc::new(err)), Some(epoch)))
    }

    /// Marks the broker failed because the driver of `timer` failed with `cause`. A driver
    /// failure is not cleared by reopening the store: the broker stays failed until restarted.
    pub fn poison(&self, timer: Timer, cause: BrokerError) {
        self.stop_writes(
            Failure::Driver {
                driver: format!("{timer:?}"),
                cause: Arc::new(cause),
            },
            None,
        );
    }

    /// Records the first failure (of the current store, when `epoch` names one), refuses writes
    /// from now on, and returns the failure that stopped them.
    fn stop_writes(&self, failure: Failure, epoch: Option<u64>) -> Failure {
        let mut state = self.fail_state.lock();
        if epoch.is_some_and(|epoch| epoch != state.epoch) {
            // A flush of the store that was reopened since: its callers get the error, the
            // reopened store goes on.
            tracing::debug!(cause = %chain(&failure), "a write to the store before it was reopened failed");
            return failure;
        }
        if let Some(first) = &state.failure {
            return first.clone();
        }
        tracing::error!(cause = %chain(&failure), "the broker stops taking writes");
        state.failure = Some(failure.clone());
        self.failed.store(true, Ordering::Release);
        self.healthy.send_replace(false);
        failure
    }

    pub(super) fn check_writable(&self) -> Result<(), BrokerError> {
        if self.failed.load(Ordering::Acquire) {
            if let Some(failure) = self.fail_state.lock().failure.clone() {
                return Err(BrokerError::Failed(failure));
            }
        }
        Ok(())
    }

    /// The failure that stopped writes, when reopening the store may clear it: a write or
    /// flush that failed on I/O (a full disk above all), not damaged data or a failed driver.
    pub fn reopenable_failure(&self) -> Option<Failure> {
        let state = self.fail_state.lock();
        match &state.failure {
            Some(failure @ Failure::Store(err)) if err.clears_on_reopen() => Some(failure.clone()),
            _ => None,
        }
    }

    /// Refuses while less than the `--min-free-space` watermark is free on the data directory's
    /// disk (new tasks are refused then; a failed store is not reopened then).
    ///
    /// # Errors
    /// [`StoreError::LowSpace`] under the watermark.
    pub fn check_free_space(&self) -> Result<(), StoreError> {
        self.space.check()
    }

    /// The number of times the store was reopened; it moves when a failed broker takes writes
    /// again. Leases granted before then have ended (the tasks are READY again, as after a
    /// restart), so worker sessions end on it and their workers reconnect.
    pub fn reopened(&self) -> watch::Receiver<u64> {
        self.reopened.subscribe()
    }

    /// Reopens the store of a broker failed by a storage failure: closes the store (sled
    /// releases its file lock only when every handle is gone, so the group commit drops its own
    /// and abandons a flush in progress), opens it again, rebuilds the engine from it as a start
    /// does, and takes writes again with health SERVING. Everything flushed before the failure
    /// is there; writes that failed were answered with errors. Returns how many tasks were
    /// recovered, or `None` when there is no failure a reopen clears.
    ///
    /// Blocking (it opens sled and reads every record): run it on a blocking thread. The engine
    /// lock is taken only to take the old store out and to put the new engine in, so reads go
    /// on from the old engine meanwhile (writes are refused with the failure).
    ///
    /// # Errors
    /// [`BrokerError::Store`] when the store cannot be opened or read back: the broker stays
    /// failed, with its store closed, and may try again. [`BrokerError::Failed`] when the data
    /// read back is damaged: that is the broker's failure from then on, which no reopen clears.
    pub fn reopen(&self) -> Result<Option<usize>, BrokerError> {
        let _one_at_a_time = self.reopen_gate.lock();
        if self.reopenable_failure().is_none() {
            return Ok(None);
        }
        let (old, epoch) = {
            let mut core = self.core.lock();
            (core.storage.take(), core.epoch + 1)
        };
        let closed = match old {
            Some(old) => {
                old.commit.close();
                // Outside the engine lock: sled flushes and joins its threads here.
                old.store.close()
            }
            None => Ok(()),
        };
        let loaded = closed
            .and_then(|()| Store::open(&self.settings.store))
            .map_err(BrokerError::from)
            .and_then(|store| {
                Core::load(
                    store,
                    self.settings.engine,
                    epoch,
                    self.settings.stats.clone(),
                )
            });
        let (loaded, tasks) = match loaded {
            Ok(loaded) => loaded,
            Err(BrokerError::Store(
                err @ (StoreError::Damaged { .. }
                | StoreError::Corrupt { .. }
                | StoreError::UnknownRecordVersion { .. }
                | StoreError::LostWrites { .. }
                | StoreError::Stuck { .. }),
            )) => {
                // Trying again cannot help (the data is damaged, or the old store holds the
                // directory), and refusals should say what is wrong now.
                let failure = Failure::Store(Arc::new(err));
                self.fail_state.lock().failure = Some(failure.clone());
                return Err(BrokerError::Failed(failure));
            }
            Err(err) => return Err(err),
        };
        let old_engine = {
            let mut core = self.core.lock();
            let old = std::mem::replace(&mut *core, loaded);
            // Under the engine lock, so no command sees the new engine while writes are refused
            // with the old failure, and a late failure of the old store is told apart by epoch.
            let mut state = self.fail_state.lock();
            state.epoch = epoch;
            state.failure = None;
            self.failed.store(false, Ordering::Release);
            self.healthy.send_replace(true);
            old
        };
        // The old engine, with its leases, is dropped outside the lock.
        drop(old_engine);
        self.reopened.send_replace(epoch);
        // The recovered engine has READY tasks nobody announced, other results and deadlines:
        // every long poll and driver looks again.
        self.ready.wake_all();
        self.results.wake_all();
        for timer in &self.timers {
            timer.notify_one();
        }
        Ok(Some(tasks))
    }
}
