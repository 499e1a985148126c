//! Group commit: writers apply their change to sled, then wait for the first flush that started
//! after their write. One flusher thread runs flushes back to back while anyone waits, so many
//! concurrent callers share one fsync instead of paying one each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::StoreError;

/// Handle to the flusher; the thread stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

#[derive(Debug)]
struct Shared {
    db: sled::Db,
    gens: Mutex<Generations>,
    wake: Condvar,
    /// The number of the last flush that completed.
    done: watch::Sender<u64>,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

#[derive(Debug)]
struct Generations {
    /// The number the next flush to start will carry.
    next: u64,
    /// The highest flush number anyone waits for.
    wanted: u64,
    stop: bool,
}

/// Stops and joins the flusher when the last handle goes, so the database (and its file lock)
/// is released by the time the broker that owned it is dropped.
#[derive(Debug)]
struct StopOnDrop {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.shared.gens.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            if thread.join().is_err() {
                tracing::error!("the flusher thread panicked");
            }
        }
    }
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Self {
        let (done, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            db,
            gens: Mutex::new(Generations {
                next: 1,
                wanted: 0,
                stop: false,
            }),
            wake: Condvar::new(),
            done,
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let flusher = shared.clone();
        let thread = std::thread::Builder::new()
            .name("stalk-flusher".into())
            .spawn(move || flusher.run())
            .expect("invariant: the OS can start one thread at startup");
        Self {
            _stop: Arc::new(StopOnDrop {
                shared: shared.clone(),
                thread: Mutex::new(Some(thread)),
            }),
            shared,
        }
    }

    /// Claims the first flush that starts after this call; call it after writing.
    pub fn ticket(&self) -> u64 {
        let mut gens = self.shared.gens.lock();
        let ticket = gens.next;
        if gens.wanted < ticket {
            gens.wanted = ticket;
            self.shared.wake.notify_one();
        }
        ticket
    }

    /// Waits until the flush `ticket` has completed.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] when a flush failed: nothing written since is known durable.
    pub async fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut done = self.shared.done.subscribe();
        let waited = done
            .wait_for(|&d| d >= ticket || self.shared.failed.load(Ordering::Acquire))
            .await;
        if waited.is_err() || self.shared.failed.load(Ordering::Acquire) {
            let why = self.shared.failure.lock().clone();
            return Err(StoreError::Poisoned(
                why.unwrap_or_else(|| "the flusher stopped".into()),
            ));
        }
        Ok(())
    }

    /// Flushes now and waits for it; for shutdown.
    ///
    /// # Errors
    /// As [`GroupCommit::wait`].
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.wait(self.ticket()).await
    }

    /// Whether a flush has failed.
    pub fn is_poisoned(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }
}

impl Shared {
    fn run(&self) {
        loop {
            let ticket = {
                let mut gens = self.gens.lock();
                while gens.wanted < gens.next && !gens.stop {
                    self.wake.wait(&mut gens);
                }
                if gens.stop {
                    return;
                }
                let ticket = gens.next;
                gens.next += 1;
                ticket
            };
            if let Err(err) = self.db.flush() {
                tracing::error!(cause = %err, "flush failed; the broker stops taking writes");
                *self.failure.lock() = Some(err.to_string());
                self.failed.store(true, Ordering::Release);
                self.done.send_replace(u64::MAX);
                return;
            }
            self.done.send_replace(ticket);
        }
    }
}
