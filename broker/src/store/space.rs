//! The free-space watermark: enqueues are refused while the data directory's file system has
//! less free than the watermark, so the disk seldom fills under sled (which takes no write after
//! an I/O error until it is reopened, see [`StoreError::DiskFull`]), and acks and deletes, which
//! free space, still go through. A broker whose disk filled anyway reopens its store once the
//! watermark is met again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::StoreError;

/// How long a measured free space is trusted while far from the watermark.
const REFRESH: Duration = Duration::from_millis(50);

/// The watermark and the last measurement of the free space. It outlives the store it watches:
/// the broker keeps one across reopens of its data directory.
#[derive(Debug)]
pub struct FreeSpace {
    path: PathBuf,
    min_free: u64,
    /// When the free space was last measured, and what it was.
    last: Mutex<Option<(Instant, u64)>>,
}

impl FreeSpace {
    /// A watermark of `min_free` bytes on the file system holding `path`; 0 turns it off.
    pub fn new(path: &Path, min_free: u64) -> Self {
        Self {
            path: path.to_path_buf(),
            min_free,
            last: Mutex::new(None),
        }
    }

    /// Refuses when fewer than the watermark's bytes are free.
    ///
    /// Measured (one `statvfs`) at most every [`REFRESH`] while more than twice the watermark
    /// is free, and on every call below that, so the refusal is exact where it matters.
    ///
    /// # Errors
    /// [`StoreError::LowSpace`] below the watermark.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.min_free == 0 {
            return Ok(());
        }
        let mut last = self.last.lock();
        let now = Instant::now();
        let free = match *last {
            Some((at, free)) if now.duration_since(at) < REFRESH && free / 2 >= self.min_free => {
                free
            }
            _ => match available(&self.path) {
                Ok(free) => last.insert((now, free)).1,
                Err(err) => {
                    // Unknown free space refuses nothing: the write itself reports a full disk.
                    tracing::warn!(cause = %err, path = %self.path.display(), "cannot measure free space");
                    return Ok(());
                }
            },
        };
        if free < self.min_free {
            return Err(StoreError::LowSpace {
                path: self.path.clone(),
                free,
                min_free: self.min_free,
            });
        }
        Ok(())
    }
}

/// Bytes an unprivileged process may still write on the file system holding `path`.
fn available(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_above_the_free_space_refuses_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        FreeSpace::new(dir.path(), 0).check().expect("0 is off");
        FreeSpace::new(dir.path(), 1)
            .check()
            .expect("a byte is free");
        let err = FreeSpace::new(dir.path(), u64::MAX).check().unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("--min-free-space"), "{message}");
    }
}
