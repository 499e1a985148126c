//! Opening the store: sled's files are checked before and after sled reads them, so a damaged
//! or rolled-back data dir is refused with what is wrong instead of served with tasks missing.

use std::sync::Arc;

use super::commit_mark::{self, CommitMark};
use super::{Store, StoreConfig, StoreError};

impl Store {
    /// Opens (or creates) the store in `config.path` and checks that sled recovered everything
    /// that was acknowledged (`commit_mark`).
    ///
    /// # Errors
    /// [`StoreError::Open`] when sled cannot open the directory (unwritable, or locked by
    /// another broker); [`StoreError::Damaged`] when its files cannot be read back;
    /// [`StoreError::LostWrites`] when sled recovered less than was acknowledged, unless
    /// `config.accept_data_loss`.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let path = &config.path;
        let io = |source: std::io::Error| StoreError::Open {
            path: path.clone(),
            source: sled::Error::Io(source),
        };
        remove_unfinished_snapshots(path).map_err(io)?;
        if let Err(gutted) = check_not_gutted(path) {
            if !config.accept_data_loss {
                return Err(gutted);
            }
            tracing::error!(cause = %gutted, "--accept-data-loss: starting with an empty store");
        }
        let in_file = CommitMark::read(path).map_err(io)?;
        let db = reading(path, || open_sled(config))?;
        let in_sled = reading(path, || Ok(db.get(commit_mark::KEY)?))?
            .map(|bytes| {
                commit_mark::decode_sled(&bytes).ok_or_else(|| StoreError::Corrupt {
                    key: commit_mark::KEY.to_vec(),
                    reason: format!("expected 8 bytes, found {}", bytes.len()),
                })
            })
            .transpose()?;
        let mark_base = match commit_mark::compare(path, in_sled, &in_file) {
            Ok(base) => base,
            Err(loss) if config.accept_data_loss => {
                tracing::error!(
                    data_dir = %path.display(),
                    loss = %loss.reason,
                    "--accept-data-loss: starting with what sled recovered"
                );
                in_sled.unwrap_or(0).max(match in_file {
                    commit_mark::FileMark::At(n) => n,
                    _ => 0,
                })
            }
            Err(loss) => {
                return Err(StoreError::LostWrites {
                    path: path.clone(),
                    reason: loss.reason,
                })
            }
        };
        let mark = CommitMark::open(path, &in_file, mark_base).map_err(io)?;
        Ok(Self {
            db,
            config: config.clone(),
            mark: Arc::new(mark),
            mark_base,
        })
    }
}

/// Refuses a data directory that has sled's `conf` but not its `db` file: sled would start an
/// empty store there, silently dropping every task.
pub(super) fn check_not_gutted(path: &std::path::Path) -> Result<(), StoreError> {
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

/// Runs `read`, a read of sled's files, turning a panic inside sled and the errors it gives for
/// bytes it cannot make sense of into [`StoreError::Damaged`]: those are no I/O trouble the
/// operator could fix in place.
pub(super) fn reading<T>(
    path: &std::path::Path,
    read: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let damaged = |what: String| StoreError::Damaged {
        path: path.to_path_buf(),
        reason: format!("sled cannot read it back ({what})"),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Err(StoreError::Io(err) | StoreError::Open { source: err, .. }))
            if is_unreadable(&err) =>
        {
            Err(damaged(match err {
                sled::Error::Corruption { at: Some(at), .. } => {
                    format!("corrupt bytes in its files, at {at:?}")
                }
                sled::Error::Corruption { at: None, .. } => "corrupt bytes in its files".into(),
                other => other.to_string(),
            }))
        }
        Ok(result) => result,
        Err(panic) => Err(damaged(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into()),
        )),
    }
}

/// Whether sled failed because its files hold bytes it cannot make sense of.
fn is_unreadable(err: &sled::Error) -> bool {
    matches!(
        err,
        sled::Error::Corruption { .. }
            | sled::Error::Unsupported(_)
            | sled::Error::ReportableBug(_)
    )
}

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

/// Opens sled in `config.path`, retrying briefly while another handle in this process still
/// holds its file lock.
pub(super) fn open_sled(config: &StoreConfig) -> Result<sled::Db, StoreError> {
    let sled_config = sled::Config::new()
        .path(&config.path)
        .cache_capacity(config.cache_bytes)
        .flush_every_ms(Some(config.flush_every_ms))
        .mode(sled::Mode::HighThroughput);
    // sled's I/O threads may hold the file lock for a moment after a previous owner in this
    // process was dropped (an in-process restart), so a busy lock is retried briefly.
    let deadline = std::time::Instant::now() + LOCK_RETRY;
    loop {
        match sled_config.open() {
            Ok(db) => return Ok(db),
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
