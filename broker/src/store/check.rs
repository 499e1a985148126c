//! The offline check of a data dir (`stalkd check`): everything a start would read, read the
//! same way, but every problem collected and reported instead of the first one refusing.
//!
//! It opens sled as a start does (sled may write its start-up snapshot) and changes no record:
//! unlike a start it neither removes orphan bodies nor rewrites the commit mark.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use super::commit_mark::{self, CommitMark, FileMark};
use super::event_records::decode_batch;
use super::keys::{
    decode_task_key, BODY, EVENTS, LIMIT, REVOCATION, SCHEDULE, SEQ_RESERVED, STATE,
};
use super::limit_records::decode_limit;
use super::open::{check_not_gutted, open_sled, reading};
use super::records::decode_state;
use super::revocation_records::decode_revocation;
use super::schedule_records::decode_schedule;
use super::{StoreConfig, StoreError};

/// Problems listed in full; beyond this many only the count grows.
const LISTED: usize = 50;

/// What `stalkd check` found in a data dir.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The number of the last group commit sled holds, if any.
    pub commit_in_sled: Option<u64>,
    /// The number of the last group commit the mark file records, if it is readable.
    pub commit_in_mark: Option<u64>,
    /// Tasks by state name.
    pub tasks: BTreeMap<String, u64>,
    /// Tasks by queue, then by state name.
    pub queues: BTreeMap<String, BTreeMap<String, u64>>,
    /// Stored periodic schedules.
    pub schedules: u64,
    /// Stored limits.
    pub limits: u64,
    /// Remembered revocations.
    pub revocations: u64,
    /// Stored batches of events (one per command that made any).
    pub event_batches: u64,
    /// Everything wrong, in words (at most 50; see `problem_count`).
    pub problems: Vec<String>,
    /// How many problems there are in all.
    pub problem_count: u64,
}

impl CheckReport {
    fn problem(&mut self, what: String) {
        self.problem_count += 1;
        if self.problems.len() < LISTED {
            self.problems.push(what);
        }
    }

    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }
}

/// Checks the data dir of `config` while no broker uses it.
///
/// # Errors
/// [`StoreError::Open`] when sled cannot open the directory (a running stalkd holds its lock,
/// or it is unreadable). Damage is reported in [`CheckReport::problems`], not as an error.
pub fn check(config: &StoreConfig) -> Result<CheckReport, StoreError> {
    let path = &config.path;
    let mut report = CheckReport {
        data_dir: path.clone(),
        ..CheckReport::default()
    };
    if !path.join("db").exists() && !path.join("conf").exists() {
        // Opening it would create a new store there.
        report.problem(format!(
            "{} holds no stalk data (no sled files)",
            path.display()
        ));
        return Ok(report);
    }
    // Opening a gutted directory would create an empty store in it.
    if let Err(gutted) = check_not_gutted(path) {
        report.problem(gutted.to_string());
        return Ok(report);
    }
    let in_file = CommitMark::read(path).map_err(|source| StoreError::Open {
        path: path.clone(),
        source: sled::Error::Io(source),
    })?;
    let db = match reading(path, || open_sled(config)) {
        Ok(db) => db,
        Err(damaged @ StoreError::Damaged { .. }) => {
            report.problem(damaged.to_string());
            return Ok(report);
        }
        Err(err) => return Err(err),
    };
    if let Err(damaged) = reading(path, || scan(&db, &in_file, &mut report)) {
        report.problem(damaged.to_string());
    }
    Ok(report)
}

/// Reads every record of `db` into `report`.
fn scan(db: &sled::Db, in_file: &FileMark, report: &mut CheckReport) -> Result<(), StoreError> {
    report.commit_in_sled = db
        .get(commit_mark::KEY)?
        .and_then(|bytes| commit_mark::decode_sled(&bytes));
    report.commit_in_mark = match in_file {
        FileMark::At(n) => Some(*n),
        _ => None,
    };
    if let Err(loss) = commit_mark::compare(&report.data_dir, report.commit_in_sled, in_file) {
        report.problem(loss.reason);
    }
    let reserved = db
        .get(SEQ_RESERVED)?
        .and_then(|bytes| commit_mark::decode_sled(&bytes))
        .unwrap_or(0);
    let mut keys = HashSet::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    for entry in db.scan_prefix([STATE]) {
        let (key, value) = entry?;
        let Some(task_key) = decode_task_key(STATE, &key) else {
            report.problem(format!("malformed task key {key:?}"));
            continue;
        };
        let meta = match decode_state(&key, &value) {
            Ok((meta, _)) => meta,
            Err(err) => {
                report.problem(err.to_string());
                continue;
            }
        };
        let state = meta.state.name().to_string();
        *report.tasks.entry(state.clone()).or_default() += 1;
        *report
            .queues
            .entry(meta.queue.to_string())
            .or_default()
            .entry(state)
            .or_default() += 1;
        if let Some(other) = ids.insert(meta.id.to_string(), task_key) {
            report.problem(format!(
                "task id {} is stored twice (keys {other} and {task_key})",
                meta.id
            ));
        }
        let seq = super::recovery::highest_seq(task_key, &meta);
        if seq >= reserved {
            report.problem(format!(
                "task {} uses sequence number {seq}, past the reserved bound {reserved} (the \
                 reservation record was rolled back)",
                meta.id
            ));
        }
        if db.get(super::keys::task_key(BODY, task_key))?.is_none() {
            report.problem(format!(
                "task {} has no body (its payload is gone)",
                meta.id
            ));
        }
        keys.insert(task_key);
    }
    for entry in db.scan_prefix([BODY]) {
        let (key, _) = entry?;
        if decode_task_key(BODY, &key).is_none_or(|k| !keys.contains(&k)) {
            report.problem(format!(
                "a task body without a state record (key {key:?}; a start removes it)"
            ));
        }
    }
    report.schedules = count(db, SCHEDULE, report, |k, v| decode_schedule(k, v).map(drop))?;
    report.limits = count(db, LIMIT, report, |k, v| decode_limit(k, v).map(drop))?;
    report.revocations = count(db, REVOCATION, report, |k, v| {
        decode_revocation(k, v).map(drop)
    })?;
    report.event_batches = count(db, EVENTS, report, |k, v| decode_batch(k, v).map(drop))?;
    Ok(())
}

/// Decodes every record of `kind`, reporting the ones that do not decode; answers how many do.
fn count(
    db: &sled::Db,
    kind: u8,
    report: &mut CheckReport,
    decode: impl Fn(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for entry in db.scan_prefix([kind]) {
        let (key, value) = entry?;
        match decode(&key, &value) {
            Ok(()) => n += 1,
            Err(err) => report.problem(err.to_string()),
        }
    }
    Ok(n)
}
