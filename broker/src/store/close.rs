//! Closing a store that failed, so that its data directory can be opened again in the same
//! process.
//!
//! sled holds the directory's file lock until its last handle is dropped, and that drop flushes
//! first. After a write the full disk cut short, the flush can wait forever: sled 0.34 claims
//! room in an I/O buffer before it writes a blob file, and when that write fails the claim is
//! never released, so the buffer is never written and every flush waits for it, with no error
//! recorded that would end the wait. So the drop runs on a thread of its own and is waited for
//! only so long. If it hangs, the store is *disarmed*: sled's descriptor of its `db` file is
//! pointed at `/dev/full` (which releases the lock, held on the file's open description), and a
//! last write through the old handle then fails there, which records sled's error and wakes the
//! hanging flush, so the old instance shuts down. Whatever it still tries to write goes
//! nowhere; the reopened store reads what reached the disk before the failure.

use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// How long in-flight reads may keep the failed store, and how long each step of its closing
/// may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// A broker-wide key no reader looks at: the write that makes a disarmed sled fail.
const CLOSING_KEY: &[u8] = b"\x01closing";

impl Store {
    /// Closes the last handle of this store, releasing its data directory.
    ///
    /// Takes the shared handle: callers that read from it (a lease reading bodies) let go of
    /// their clones within moments, and the last handle must not be dropped on an async worker,
    /// which a hanging flush would block for good. Blocking.
    ///
    /// # Errors
    /// [`StoreError::Stuck`] when other handles stay, or sled neither closes nor can be
    /// disarmed (the data directory then stays locked until the process exits).
    pub fn close(self: Arc<Self>) -> Result<(), StoreError> {
        let store = last_handle(self)?;
        let path = store.config.path.clone();
        let stuck = || StoreError::Stuck { path: path.clone() };
        // Kept here, so that the dropping thread's drop is not the last and a hanging flush can
        // be ended through it.
        let spare = store.db.clone();
        let (closed, wait) = mpsc::channel();
        std::thread::Builder::new()
            .name("stalk-store-close".into())
            .spawn(move || {
                let _ = store.db.flush();
                drop(store);
                let _ = closed.send(());
            })
            .map_err(|_| stuck())?;
        if wait.recv_timeout(CLOSE_WAIT).is_ok() {
            drop(spare);
            return Ok(());
        }
        let disarmed = disarm(&path).map_err(|_| stuck())?;
        if disarmed == 0 {
            return Err(stuck());
        }
        tracing::warn!(path = %path.display(), "sled hung closing the failed store; disarmed it");
        std::thread::Builder::new()
            .name("stalk-store-close".into())
            .spawn(move || {
                // Fails on /dev/full, which records sled's error and wakes the hanging flush.
                let _ = spare.insert(CLOSING_KEY, &[]);
                let _ = spare.flush();
                drop(spare);
            })
            .map_err(|_| stuck())?;
        if wait.recv_timeout(CLOSE_WAIT).is_err() {
            // The lock is released and the old instance writes nowhere; only its memory stays.
            tracing::warn!(path = %path.display(), "the disarmed store did not shut down; leaving it behind");
        }
        Ok(())
    }
}

/// Waits (up to [`CLOSE_WAIT`]) until `shared` is the last handle.
fn last_handle(mut shared: Arc<Store>) -> Result<Store, StoreError> {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        match Arc::try_unwrap(shared) {
            Ok(store) => return Ok(store),
            Err(still) if Instant::now() >= deadline => {
                return Err(StoreError::Stuck {
                    path: still.config.path.clone(),
                })
            }
            Err(still) => {
                shared = still;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Points every descriptor of this process open on `dir`'s `db` file at `/dev/full`; returns
/// how many there were.
fn disarm(dir: &Path) -> std::io::Result<usize> {
    let db_file = std::fs::canonicalize(dir.join("db"))?;
    let full = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/full")?;
    let mut disarmed = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        if std::fs::read_link(entry.path()).ok().as_deref() != Some(db_file.as_path()) {
            continue;
        }
        let Some(raw) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: `raw` is open (it is listed, and only the failed sled instance, which is
        // kept alive by the hanging thread, has this file open), and `ManuallyDrop` keeps this
        // borrowed handle from closing it: `dup2` only replaces what it refers to.
        let mut sleds = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(raw) });
        rustix::io::dup2(&full, &mut sleds)?;
        disarmed += 1;
    }
    Ok(disarmed)
}
