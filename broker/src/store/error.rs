//! What the store can fail with.

use std::path::PathBuf;
use std::sync::Arc;

/// A store failure. Startup turns these into messages that say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is damaged in a way sled would not report, or that made it panic.
    #[error("the data directory {path} is damaged: {reason}; restore it from a backup")]
    Damaged {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// sled recovered less than had been flushed and acknowledged (see `commit_mark`), or what
    /// it recovered cannot be checked.
    #[error(
        "the data directory {path} is damaged: {reason}; restore it from a backup, or start \
         stalkd with --accept-data-loss to serve what sled recovered"
    )]
    LostWrites {
        /// The directory.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// sled could not open the data directory.
    #[error(
        "cannot open the data directory {path} (check that it is writable and that no other \
         stalkd uses it)"
    )]
    Open {
        /// The directory.
        path: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// A read or write failed.
    #[error("storage I/O failed")]
    Io(#[from] sled::Error),
    /// A record was written by a newer broker.
    #[error("record {key:?} has version {version}, which this broker cannot read; upgrade stalkd")]
    UnknownRecordVersion {
        /// The record's key.
        key: Vec<u8>,
        /// The version byte found.
        version: u8,
    },
    /// A record could not be decoded.
    #[error("record {key:?} is corrupt: {reason}")]
    Corrupt {
        /// The record's key.
        key: Vec<u8>,
        /// What is wrong with it.
        reason: String,
    },
    /// A flush failed earlier (its error is the source); the store refuses writes from then on.
    #[error("the store failed to flush to disk and refuses further writes")]
    Poisoned(#[source] Option<Arc<sled::Error>>),
    /// The disk holding the data directory is full. sled keeps the first I/O error for good
    /// (`Config::set_global_error`), so this store takes no write again; the broker reopens it
    /// once space is free.
    #[error(
        "the disk holding the data directory {path} is full; free space there and the broker \
         reopens its store by itself within seconds (set --min-free-space so that enqueues are \
         refused before the disk fills)"
    )]
    DiskFull {
        /// The data directory.
        path: PathBuf,
        /// The failed write or flush.
        #[source]
        source: Arc<sled::Error>,
    },
    /// Less space is free than the `--min-free-space` watermark: new tasks are refused so that
    /// the disk never fills.
    #[error(
        "the disk holding the data directory {path} has {} free, under the --min-free-space \
         watermark of {}; new tasks are refused until space is freed (acks and deletes still \
         go through)",
        bytesize::ByteSize::b(*free),
        bytesize::ByteSize::b(*min_free)
    )]
    LowSpace {
        /// The data directory.
        path: PathBuf,
        /// Bytes free.
        free: u64,
        /// The watermark, bytes.
        min_free: u64,
    },
    /// The final flush of a shutdown did not finish in time (sled can hang after a failed write).
    #[error("the final flush did not finish within the shutdown timeout of {timeout:?}; writes acknowledged since the last flush may be lost")]
    FlushTimedOut {
        /// The shutdown timeout.
        timeout: std::time::Duration,
    },
    /// The store is closed after a write or flush failed, until the broker reopens it.
    #[error(
        "the data directory {path} is closed after a storage failure, until the broker reopens \
         it"
    )]
    Reopening {
        /// The data directory.
        path: PathBuf,
    },
    /// A failed store could not be closed, so it cannot be opened again in this process.
    #[error(
        "sled did not close the data directory {path} after the storage failure (it can hang \
         flushing a write the full disk cut short); restart stalkd to serve from it again"
    )]
    Stuck {
        /// The data directory.
        path: PathBuf,
    },
    /// Group commit was started outside a tokio runtime, which its flusher needs.
    #[error("group commit needs a tokio runtime to run its flusher")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
}

/// Whether a sled error is "no space left on device" (ENOSPC), which a client should not retry
/// as if the broker were briefly away.
pub(super) fn is_disk_full(err: &sled::Error) -> bool {
    /// `ENOSPC` on Linux and the BSDs.
    const ENOSPC: i32 = 28;
    matches!(err, sled::Error::Io(io)
        if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(ENOSPC))
}

impl StoreError {
    /// The sled error behind a failed write or flush, if this is one.
    fn sled_cause(&self) -> Option<Arc<sled::Error>> {
        match self {
            Self::Io(err) => Some(Arc::new(err.clone())),
            Self::Poisoned(err) => err.clone(),
            _ => None,
        }
    }

    /// This error, as [`StoreError::DiskFull`] naming the data directory `path` when its cause
    /// is a full disk.
    pub fn name_full_disk(self, path: &std::path::Path) -> Self {
        match self.sled_cause() {
            Some(source) if is_disk_full(&source) => Self::DiskFull {
                path: path.to_path_buf(),
                source,
            },
            _ => self,
        }
    }

    /// Whether a failed write or flush ended this way, which reopening the store clears: sled
    /// keeps its first I/O error (ENOSPC above all) for good, and a reopen reads back what
    /// reached the disk, as a restart would. Damaged or unreadable data is not cleared so.
    pub fn clears_on_reopen(&self) -> bool {
        matches!(
            self,
            Self::Io(_) | Self::Poisoned(_) | Self::DiskFull { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(code: i32) -> sled::Error {
        sled::Error::Io(std::io::Error::from_raw_os_error(code))
    }

    #[test]
    fn a_write_or_flush_that_found_no_space_names_the_full_disk() {
        let path = std::path::Path::new("/var/lib/stalk");
        let write = StoreError::Io(io(28)).name_full_disk(path);
        assert!(matches!(write, StoreError::DiskFull { .. }), "{write:?}");
        assert!(
            write.to_string().contains("/var/lib/stalk is full"),
            "{write}"
        );
        let flush = StoreError::Poisoned(Some(Arc::new(io(28)))).name_full_disk(path);
        assert!(matches!(flush, StoreError::DiskFull { .. }), "{flush:?}");
        let other = StoreError::Io(io(5)).name_full_disk(path);
        assert!(
            matches!(other, StoreError::Io(_)),
            "EIO is no full disk: {other:?}"
        );
    }
}
