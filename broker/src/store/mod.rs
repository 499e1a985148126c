//! The store: the durable truth, in one sled tree. It alone knows sled; it turns the engine's
//! [`Write`]s into records and rebuilds the engine's input on start.
//!
//! Layout (see `keys`): `0x01 name` broker-wide values, `0x02 key` a task's state record
//! (rewritten on each change), `0x03 key` a task's body (written once), `0x04 key` a schedule,
//! `0x05 scope` a limit, `0x06 rule` a remembered revocation. The hot path is one batch per command: enqueue writes state + body, a
//! lease or ack rewrites the state.
//!
//! # Files
//! - this file: [`Store`]: open, apply the engine's writes, read bodies and results.
//! - `error.rs`: [`StoreError`].
//! - `keys.rs`: the key encodings.
//! - `records.rs`: a task's state and body records.
//! - `schedule_records.rs`, `limit_records.rs`, `revocation_records.rs`: the records of
//!   schedules, limits and remembered revocations.
//! - `recovery.rs`: reading everything back on start ([`Recovered`]).
//! - `commit.rs`: group commit ([`GroupCommit`]).
//! - `space.rs`: the free-space watermark.

mod commit;
mod error;

/// Refuses a data directory that has sled's `conf` but not its `db` file: sled would start an
/// empty store there, silently dropping every task.
fn check_not_gutted(path: &std::path::Path) -> Result<(), StoreError> {
    if path.join("conf").exists() && !path.join("db").exists() {
        return Err(StoreError::Damaged {
            path: path.to_path_buf(),
            reason: "sled's `conf` file is there but its `db` file is missing, so it would open \
                     an empty store"
                .into(),
        });
    }
    Ok(())
}

/// Opens sled, turning a panic inside it (seen on damaged files) into [`StoreError::Damaged`].
fn open_catching_panics(
    config: &sled::Config,
    path: &std::path::Path,
) -> Result<sled::Result<sled::Db>, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open())).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        StoreError::Damaged {
            path: path.to_path_buf(),
            reason: format!("sled failed reading it ({what})"),
        }
    })
}

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
mod keys;
mod limit_records;
mod records;
mod recovery;
mod revocation_records;
mod schedule_records;
mod space;

use std::path::PathBuf;
use std::sync::Arc;

pub use commit::GroupCommit;
pub use error::StoreError;
pub use recovery::Recovered;

use crate::engine::{TaskBody, TaskResult, Write};

/// How long `Store::open` waits for a data directory whose lock is held.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

fn is_lock_busy(err: &sled::Error) -> bool {
    matches!(err, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Removes the snapshot files sled began but never finished (`snap.<lsn>.generating`).
///
/// sled 0.34 writes a snapshot at every start, to `snap.<lsn>.generating`, and renames it into
/// place only once it is written and synced; a start that fails on a full disk leaves the file
/// behind, empty or cut short. sled's own search for the latest snapshot does not skip such
/// files and sorts them last, so every later start refused the directory ("empty/corrupt
/// snapshot file found", "Read corrupted data") even after space was freed. Without the file
/// sled starts from the last finished snapshot and replays its log, as after a crash.
fn remove_unfinished_snapshots(dir: &std::path::Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A new data directory: sled creates it.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %path.display(), "removing an unfinished sled snapshot");
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The data directory.
    pub path: PathBuf,
    /// sled's page cache, bytes.
    pub cache_bytes: u64,
    /// sled's background flush interval, ms; bounds what the `fast` durability mode can lose.
    pub flush_every_ms: u64,
    /// New tasks are refused while less than this many bytes are free on the data directory's
    /// file system; 0 turns the check off.
    pub min_free_bytes: u64,
}

/// The sled database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    /// The data directory, named in errors about its disk.
    path: PathBuf,
    space: Arc<space::FreeSpace>,
}

impl Store {
    /// Opens (or creates) the store in `config.path`.
    ///
    /// # Errors
    /// [`StoreError::Open`] when sled cannot open the directory (unwritable, locked by another
    /// broker, or not a sled database).
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        remove_unfinished_snapshots(&config.path).map_err(|source| StoreError::Open {
            path: config.path.clone(),
            source: sled::Error::Io(source),
        })?;
        check_not_gutted(&config.path)?;
        let sled_config = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_bytes)
            .flush_every_ms(Some(config.flush_every_ms))
            .mode(sled::Mode::HighThroughput);
        // sled's I/O threads may hold the file lock for a moment after a previous owner in this
        // process was dropped (an in-process restart), so a busy lock is retried briefly.
        let deadline = std::time::Instant::now() + LOCK_RETRY;
        loop {
            match open_catching_panics(&sled_config, &config.path)? {
                Ok(db) => {
                    return Ok(Self {
                        db,
                        path: config.path.clone(),
                        space: Arc::new(space::FreeSpace::new(&config.path, config.min_free_bytes)),
                    })
                }
                Err(err) if is_lock_busy(&err) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: config.path.clone(),
                        source,
                    })
                }
            }
        }
    }

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
        for write in writes {
            match write {
                Write::Insert(insert) => {
                    let (meta, body) = *insert;
                    self.db.insert(
                        keys::task_key(keys::BODY, meta.key),
                        records::encode_body(body),
                    )?;
                    self.db.insert(
                        keys::task_key(keys::STATE, meta.key),
                        records::encode_state(&meta, None),
                    )?;
                }
                Write::Update(update) => {
                    let (meta, result) = *update;
                    self.db.insert(
                        keys::task_key(keys::STATE, meta.key),
                        records::encode_state(&meta, result),
                    )?;
                }
                Write::Delete(key) => {
                    self.db.remove(keys::task_key(keys::STATE, key))?;
                    self.db.remove(keys::task_key(keys::BODY, key))?;
                }
                Write::PutSchedule(schedule) => {
                    self.db.insert(
                        keys::task_key(keys::SCHEDULE, schedule.key),
                        schedule_records::encode_schedule(&schedule),
                    )?;
                }
                Write::DeleteSchedule(key) => {
                    self.db.remove(keys::task_key(keys::SCHEDULE, key))?;
                }
                Write::Revocation(rule, until) => {
                    let key = revocation_records::revocation_key(&rule);
                    match until {
                        Some(until) => {
                            self.db
                                .insert(key, revocation_records::encode_revocation(until))?;
                        }
                        None => {
                            self.db.remove(key)?;
                        }
                    }
                }
                Write::PutLimit(limit_key, limit) => {
                    let key = limit_records::limit_key(&limit_key);
                    match limit {
                        Some(limit) => {
                            self.db
                                .insert(key, limit_records::encode_limit(&limit_key, &limit))?;
                        }
                        None => {
                            self.db.remove(key)?;
                        }
                    }
                }
            }
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

    /// `err`, as [`StoreError::DiskFull`] naming the data directory when a full disk caused it.
    pub fn name_full_disk(&self, err: StoreError) -> StoreError {
        err.name_full_disk(&self.path)
    }

    /// Refuses new tasks while less than the watermark is free on the data directory's disk.
    ///
    /// # Errors
    /// [`StoreError::LowSpace`] below the watermark.
    pub fn check_free_space(&self) -> Result<(), StoreError> {
        self.space.check()
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// A group-commit flusher for this store, running on the current tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::NoRuntime`] when called outside a tokio runtime.
    pub fn group_commit(&self) -> Result<GroupCommit, StoreError> {
        GroupCommit::start(self.db.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unfinished_snapshots_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "snap.00000000000000FF",
            "snap.0000000000000100.generating",
            "db",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        remove_unfinished_snapshots(dir.path()).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["db", "snap.00000000000000FF"]);
        remove_unfinished_snapshots(&dir.path().join("new")).expect("a new dir is fine");
    }
}
