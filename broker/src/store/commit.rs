//! Group commit: writers apply their change to sled, then wait for the first flush that started
//! after their write. One flusher task runs `flush_async` back to back while anyone waits, so
//! many concurrent callers share one fsync instead of paying one each.
//!
//! The flusher is a tokio task, not a thread: waking it costs no OS context switch, and sled's
//! own I/O thread hands the finished flush straight back to the runtime.
//!
//! Each flush carries a number that only grows across restarts, written into sled before the
//! flush and into the commit mark file after it (`commit_mark`), so a start can tell when sled
//! recovered less than was flushed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::commit_mark::{self, CommitMark};
use super::StoreError;

/// Handle to the flusher; the task stops when the last handle is dropped, or when
/// [`GroupCommit::close`] is called. A clone is one `Arc` clone: callers take one per durable
/// command to wait outside the engine lock.
#[derive(Debug, Clone)]
pub struct GroupCommit(Arc<StopOnDrop>);

#[derive(Debug)]
struct Shared {
    /// Taken out when the last handle drops: the idle flusher holds no database handle, so the
    /// database (and its file lock) is released with the broker that owned it.
    db: Mutex<Option<sled::Db>>,
    gens: Mutex<Generations>,
    wake: Notify,
    /// The number of the last flush that completed.
    done: watch::Sender<u64>,
    failed: AtomicBool,
    /// Why the flusher stopped; `None` while it runs, or when it stopped without an error.
    failure: Mutex<Option<Arc<sled::Error>>>,
    mark: Arc<CommitMark>,
    /// Flush `n` is commit `mark_base + n`.
    mark_base: u64,
    /// Cancelled by [`GroupCommit::close`]: a flush in progress is abandoned, so the flusher lets
    /// go of its database handle at once.
    closed: CancellationToken,
    /// Called around every flush; taken out with the database handle (see `Shared::db`).
    hooks: Mutex<Option<Arc<dyn CommitHooks>>>,
}

/// What group commit calls around each flush.
pub trait CommitHooks: Send + Sync + std::fmt::Debug {
    /// Right before a flush: last writes to make durable with it (the broker's pending events).
    fn before_flush(&self);
    /// A flush completed: how many durable commands it covered and how long it took.
    fn flushed(&self, commands: u64, took: std::time::Duration);
}

#[derive(Debug)]
struct Generations {
    /// The number the next flush to start will carry.
    next: u64,
    /// The highest flush number anyone waits for.
    wanted: u64,
    /// Tickets taken for the next flush, for the observer.
    claimed: u64,
    stop: bool,
}

/// Stops the flusher when the last handle goes.
#[derive(Debug)]
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

impl GroupCommit {
    /// Starts the flusher on the current tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::NoRuntime`] when called outside a tokio runtime.
    pub(super) fn start(
        db: sled::Db,
        mark: Arc<CommitMark>,
        mark_base: u64,
        hooks: Option<Arc<dyn CommitHooks>>,
    ) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(StoreError::NoRuntime)?;
        let (done, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            db: Mutex::new(Some(db)),
            gens: Mutex::new(Generations {
                next: 1,
                wanted: 0,
                claimed: 0,
                stop: false,
            }),
            wake: Notify::new(),
            done,
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            mark,
            mark_base,
            closed: CancellationToken::new(),
            hooks: Mutex::new(hooks),
        });
        runtime.spawn(shared.clone().run());
        Ok(Self(Arc::new(StopOnDrop(shared))))
    }

    fn shared(&self) -> &Shared {
        &self.0 .0
    }

    /// Stops the flusher and lets go of the database, even while other handles live: whoever
    /// waits gets [`StoreError::Poisoned`] unless their flush already completed. For a broker
    /// that reopens its store after a failure, whose old database must be closed first.
    pub fn close(&self) {
        let shared = self.shared();
        shared.closed.cancel();
        shared.failed.store(true, Ordering::Release);
        shared.stop();
        shared.done.send_replace(u64::MAX);
    }

    /// Claims the first flush that starts after this call; call it after writing.
    pub fn ticket(&self) -> u64 {
        let shared = self.shared();
        let mut gens = shared.gens.lock();
        let ticket = gens.next;
        gens.claimed += 1;
        if gens.wanted < ticket {
            gens.wanted = ticket;
            shared.wake.notify_one();
        }
        ticket
    }

    /// Waits until the flush `ticket` has completed.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] when a flush failed: nothing written since is known durable.
    pub async fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let shared = self.shared();
        let mut done = shared.done.subscribe();
        let waited = done
            .wait_for(|&d| d >= ticket || shared.failed.load(Ordering::Acquire))
            .await;
        if waited.is_err() || shared.failed.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned(shared.failure.lock().clone()));
        }
        Ok(())
    }

    /// Flushes now, waits for it and syncs the commit mark; for shutdown.
    ///
    /// # Errors
    /// As [`GroupCommit::wait`], or [`StoreError::Io`] when the mark cannot be synced.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.wait(self.ticket()).await?;
        self.shared()
            .mark
            .sync()
            .map_err(|err| StoreError::Io(sled::Error::Io(err)))
    }
}

impl Shared {
    /// Tells the flusher to stop and drops the database handle it would flush with.
    fn stop(&self) {
        self.gens.lock().stop = true;
        self.db.lock().take();
        self.hooks.lock().take();
        self.wake.notify_one();
    }

    async fn run(self: Arc<Self>) {
        loop {
            let (ticket, commands) = loop {
                // Registered before checking, so a ticket taken in between is not missed.
                let woken = self.wake.notified();
                {
                    let mut gens = self.gens.lock();
                    if gens.stop {
                        return;
                    }
                    if gens.wanted >= gens.next {
                        let ticket = gens.next;
                        gens.next += 1;
                        break (ticket, std::mem::take(&mut gens.claimed));
                    }
                }
                woken.await;
            };
            // Held only while this flush runs (see `Shared::db`).
            let Some(db) = self.db.lock().clone() else {
                return;
            };
            let hooks = self.hooks.lock().clone();
            if let Some(hooks) = &hooks {
                hooks.before_flush();
            }
            let started = std::time::Instant::now();
            let flushed = tokio::select! {
                flushed = self.commit(&db, self.mark_base + ticket) => flushed,
                () = self.closed.cancelled() => return,
            };
            if let Err(err) = flushed {
                tracing::error!(cause = %err, "flush failed; the broker stops taking writes");
                *self.failure.lock() = Some(Arc::new(err));
                self.failed.store(true, Ordering::Release);
                self.done.send_replace(u64::MAX);
                return;
            }
            self.done.send_replace(ticket);
            if let Some(hooks) = &hooks {
                hooks.flushed(commands, started.elapsed());
            }
        }
    }

    /// Flushes as commit `number`: the number goes into sled before the flush, so sled holds
    /// it only with everything written before it, and into the mark file once it is durable.
    async fn commit(&self, db: &sled::Db, number: u64) -> Result<(), sled::Error> {
        db.insert(commit_mark::KEY, &number.to_be_bytes())?;
        db.flush_async().await?;
        self.mark.record(number).map_err(sled::Error::Io)
    }
}
