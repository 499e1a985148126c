//! The commit mark: a record, kept outside sled, of how far sled's log was durably written, so a
//! start can tell when sled recovered less than had been acknowledged.
//!
//! Each group-commit flush writes its number into sled ([`KEY`]) just before it flushes and,
//! once the flush is done, into the file [`FILE`] beside sled's files. sled recovers a prefix
//! of its log, so the number it recovers says up to which flush it still holds everything. If
//! the file's number is higher, sled lost writes that had been flushed and acknowledged: its
//! files were cut, damaged where its recovery takes a bad message for the end of the log (it
//! then drops the rest without a word), or restored from an older copy.
//!
//! The file is rewritten in place without an fsync per flush: a killed process leaves it in the
//! page cache, and after a power loss it can only lag behind sled, which never raises a false
//! alarm. It is synced at a clean shutdown. Its 12 bytes (the number, then its CRC-32) sit in
//! one disk sector, so a write is never half done.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The mark file, in the data directory.
pub(super) const FILE: &str = "stalk-commit-mark";
/// The key of the number of the last group commit, in sled.
pub(super) const KEY: &[u8] = b"\x01commit_mark";

/// The mark file, open for rewriting.
#[derive(Debug)]
pub(super) struct CommitMark {
    file: File,
}

/// What the mark file said when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FileMark {
    /// No file: a new data directory, one written before marks existed, or a removed file.
    Missing,
    /// A file whose bytes are not a mark.
    Unreadable(String),
    /// The number of the last flush that completed.
    At(u64),
}

/// Writes acknowledged as durable that sled no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Loss {
    /// What was found, in words.
    pub(super) reason: String,
}

impl CommitMark {
    /// Reads the mark file of `dir`.
    ///
    /// # Errors
    /// I/O errors other than the file not existing.
    pub(super) fn read(dir: &Path) -> std::io::Result<FileMark> {
        let bytes = match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FileMark::Missing),
            Err(err) => return Err(err),
        };
        Ok(decode(&bytes).map_or_else(
            || FileMark::Unreadable(format!("{} bytes that are not a commit mark", bytes.len())),
            FileMark::At,
        ))
    }

    /// Opens the mark file of `dir` for rewriting, creating it first holding `number` if it is
    /// missing or unreadable (written to a new file and renamed into place, so a crash never
    /// leaves an empty mark).
    ///
    /// # Errors
    /// I/O errors.
    pub(super) fn open(dir: &Path, found: &FileMark, number: u64) -> std::io::Result<Self> {
        let path = dir.join(FILE);
        if !matches!(found, FileMark::At(_)) {
            let new = dir.join(format!("{FILE}.new"));
            let mut file = File::create(&new)?;
            file.write_all(&encode(number))?;
            file.sync_all()?;
            std::fs::rename(&new, &path)?;
            File::open(dir)?.sync_all()?;
        }
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        Ok(Self { file })
    }

    /// Records that flush `number` completed.
    ///
    /// # Errors
    /// I/O errors.
    pub(super) fn record(&self, number: u64) -> std::io::Result<()> {
        self.file.write_all_at(&encode(number), 0)
    }

    /// Makes the last recorded number durable.
    ///
    /// # Errors
    /// I/O errors.
    pub(super) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

fn encode(number: u64) -> [u8; 12] {
    let mut out = [0; 12];
    out[..8].copy_from_slice(&number.to_be_bytes());
    out[8..].copy_from_slice(&crc32fast::hash(&number.to_be_bytes()).to_be_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<u64> {
    let (number, crc) = bytes.split_first_chunk::<8>()?;
    let crc: [u8; 4] = crc.try_into().ok()?;
    (crc32fast::hash(number) == u32::from_be_bytes(crc)).then(|| u64::from_be_bytes(*number))
}

/// Compares the mark sled recovered with the file's, and answers the number the next flush
/// counts on from, or the loss they show.
pub(super) fn compare(dir: &Path, in_sled: Option<u64>, in_file: &FileMark) -> Result<u64, Loss> {
    let file = dir.join(FILE).display().to_string();
    match (in_sled, in_file) {
        (_, FileMark::Unreadable(what)) => Err(Loss {
            reason: format!(
                "its commit mark {file} holds {what}, so what sled recovered cannot be checked"
            ),
        }),
        (Some(recovered), FileMark::Missing) => Err(Loss {
            reason: format!(
                "its commit mark {file} is missing (sled's files hold group commit \
                 {recovered}), so what sled recovered cannot be checked"
            ),
        }),
        (None, FileMark::Missing) => Ok(0),
        (recovered, FileMark::At(committed)) if recovered.unwrap_or(0) < *committed => Err(Loss {
            reason: format!(
                "sled recovered its log up to group commit {}, but commit {committed} had \
                     been flushed and acknowledged, so the writes of the last {} group commits are \
                     gone (sled's files were cut, damaged, or restored from an older copy)",
                recovered.unwrap_or(0),
                committed - recovered.unwrap_or(0)
            ),
        }),
        (recovered, FileMark::At(committed)) => Ok(recovered.unwrap_or(0).max(*committed)),
    }
}

/// The number sled holds under [`KEY`], if any.
pub(super) fn decode_sled(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_and_a_damaged_one_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CommitMark::read(dir.path()).unwrap(), FileMark::Missing);
        let mark = CommitMark::open(dir.path(), &FileMark::Missing, 7).unwrap();
        assert_eq!(CommitMark::read(dir.path()).unwrap(), FileMark::At(7));
        mark.record(1 << 40).unwrap();
        mark.sync().unwrap();
        assert_eq!(CommitMark::read(dir.path()).unwrap(), FileMark::At(1 << 40));
        let mut bytes = std::fs::read(dir.path().join(FILE)).unwrap();
        bytes[3] ^= 1;
        std::fs::write(dir.path().join(FILE), &bytes).unwrap();
        assert!(matches!(
            CommitMark::read(dir.path()).unwrap(),
            FileMark::Unreadable(_)
        ));
        std::fs::write(dir.path().join(FILE), b"").unwrap();
        assert!(matches!(
            CommitMark::read(dir.path()).unwrap(),
            FileMark::Unreadable(_)
        ));
    }

    #[test]
    fn sled_behind_the_file_is_a_loss_and_ahead_of_it_is_fine() {
        let dir = Path::new("/data");
        assert_eq!(compare(dir, None, &FileMark::Missing), Ok(0));
        assert_eq!(compare(dir, Some(5), &FileMark::At(5)), Ok(5));
        // A power loss can leave the unsynced file behind sled, never ahead.
        assert_eq!(compare(dir, Some(9), &FileMark::At(5)), Ok(9));
        assert_eq!(compare(dir, None, &FileMark::At(0)), Ok(0));
        let lost = compare(dir, Some(3), &FileMark::At(5)).unwrap_err();
        assert!(
            lost.reason.contains("up to group commit 3, but commit 5"),
            "{lost:?}"
        );
        assert!(compare(dir, None, &FileMark::At(5)).is_err());
        let missing = compare(dir, Some(5), &FileMark::Missing).unwrap_err();
        assert!(
            missing
                .reason
                .contains("/data/stalk-commit-mark is missing"),
            "{missing:?}"
        );
        assert!(compare(dir, Some(5), &FileMark::Unreadable("x".into())).is_err());
    }
}
