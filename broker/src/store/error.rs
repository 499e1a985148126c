//! What the store can fail with.

use std::path::PathBuf;
use std::sync::Arc;

/// A store failure. Startup turns these into messages that say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not open the data directory.
    #[error("cannot open the data directory {path}")]
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
    /// Group commit was started outside a tokio runtime, which its flusher needs.
    #[error("group commit needs a tokio runtime to run its flusher")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
}
