//! A full disk (issue 12, §1), on a small tmpfs: refusals say so with `RESOURCE_EXHAUSTED`, the
//! free-space watermark refuses new tasks early while acks go on, and a disk that filled while
//! the broker served opens again with every acknowledged task.
//!
//! Mounting needs root (as on the dev machine and CI); elsewhere the tests print why and pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use stalk_client::{Client, ClientError, LeaseOptions, Task, TaskState};
use tonic::Code;

use crate::support::{Stalkd, SOON};

/// The tmpfs: small, so that filling it takes a moment.
const TMPFS_SIZE: &str = "8m";
/// Space the tests free after filling the disk.
const BALLAST_BYTES: usize = 1 << 20;
/// One filler task's payload: large, so sled keeps it in a blob file of its own.
pub(crate) const LARGE: usize = 64 << 10;
/// A payload sled keeps in its log; filling with these left a SIGTERMed stalkd hanging.
pub(crate) const MEDIUM: usize = 20_000;
/// More tasks than fit on the tmpfs: a broker that never refuses fails the test.
const MAX_FILL: usize = 1000;

/// A tmpfs mounted on a temp directory, unmounted on drop.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why not (not root, no `mount`) and returns `None`.
    pub(crate) fn mount() -> Option<Self> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match mounted {
            Ok(status) if status.success() => Some(Self { dir }),
            other => {
                eprintln!("skipped: cannot mount a tmpfs: {other:?}");
                None
            }
        }
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Takes `BALLAST_BYTES` now, to give back with [`Tmpfs::free_ballast`] once full.
    fn ballast(&self) -> PathBuf {
        let path = self.dir.path().join("ballast");
        std::fs::write(&path, vec![1u8; BALLAST_BYTES]).unwrap();
        path
    }
}

impl Tmpfs {
    /// Writes a file until the disk takes no more, so that the next write of any size fails.
    fn fill_to_the_brim(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("brim");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = [9u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&chunk[..1]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a stalkd that has not exited yet must not leave the mount behind.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn free_ballast(ballast: &Path) {
    std::fs::remove_file(ballast).unwrap();
}

pub(crate) async fn connect(stalkd: &Stalkd) -> Client {
    Client::connect(&stalkd.url()).await.unwrap()
}

/// Enqueues large tasks until the broker refuses; returns the acknowledged ids and the refusal.
pub(crate) async fn fill(client: &Client, payload_bytes: usize) -> (Vec<String>, ClientError) {
    let mut acked = Vec::new();
    for _ in 0..MAX_FILL {
        let task = Task::new("filler")
            .queue("fill")
            .payload(vec![7u8; payload_bytes], "application/octet-stream");
        let enqueued = tokio::time::timeout(SOON, client.enqueue(task))
            .await
            .expect("an enqueue on a full disk answers");
        match enqueued {
            Ok(handle) => acked.push(handle.id),
            Err(err) => return (acked, err),
        }
    }
    panic!("{MAX_FILL} tasks of {payload_bytes} bytes fit on a {TMPFS_SIZE} tmpfs: no refusal");
}

#[tokio::test]
async fn a_full_disk_refuses_enqueues_with_resource_exhausted_naming_the_data_dir() {
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let stalkd = Stalkd::start(&tmpfs.data_dir(), &["--min-free-space", "0"]);
    let (acked, refusal) = fill(&connect(&stalkd).await, LARGE).await;
    assert!(!acked.is_empty(), "some tasks fit before the disk filled");
    assert_eq!(refusal.code(), Some(Code::ResourceExhausted), "{refusal}");
    let message = refusal.to_string();
    assert!(message.contains("is full"), "{message}");
    assert!(
        message.contains(&tmpfs.data_dir().display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn under_the_watermark_new_tasks_are_refused_acks_pass_and_freed_space_lets_them_in() {
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let ballast = tmpfs.ballast();
    let stalkd = Stalkd::start(&tmpfs.data_dir(), &["--min-free-space", "2MiB"]);
    let client = connect(&stalkd).await;
    let (acked, refusal) = fill(&client, LARGE).await;
    assert!(!acked.is_empty(), "some tasks fit above the watermark");
    assert_eq!(refusal.code(), Some(Code::ResourceExhausted), "{refusal}");
    let message = refusal.to_string();
    assert!(message.contains("--min-free-space"), "{message}");
    assert!(
        message.contains(&tmpfs.data_dir().display().to_string()),
        "{message}"
    );

    let leased = client
        .lease(LeaseOptions {
            max_tasks: 1,
            ..LeaseOptions::new(["fill"])
        })
        .await
        .unwrap();
    let lease = leased.first().expect("a filler task to lease");
    client
        .ack_success(lease, &b"done"[..], "text/plain")
        .await
        .expect("acks go through under the watermark");

    free_ballast(&ballast);
    let task = Task::new("after").queue("fill");
    client
        .enqueue(task)
        .await
        .expect("freed space lets new tasks in again, without a restart");
}

#[tokio::test]
async fn after_a_full_disk_sigterm_stops_stalkd_in_time_and_the_failed_flush_exits_non_zero() {
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let timeout = Duration::from_secs(2);
    let stalkd = Stalkd::start(
        &tmpfs.data_dir(),
        &["--min-free-space", "0", "--shutdown-timeout", "2s"],
    );
    let (_, refusal) = fill(&connect(&stalkd).await, MEDIUM).await;
    assert_eq!(refusal.code(), Some(Code::ResourceExhausted), "{refusal}");
    // The shutdown timeout, the watchdog's 2s past it, and a second for the process to go.
    let status = stalkd
        .terminate_within(timeout + Duration::from_secs(3))
        .expect("stalkd stops within its shutdown timeout after a full disk");
    assert!(!status.success(), "the final flush failed: {status}");
}

#[tokio::test]
async fn a_disk_that_filled_while_serving_opens_again_with_every_acknowledged_task() {
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let ballast = tmpfs.ballast();
    let no_watermark = ["--min-free-space", "0", "--shutdown-timeout", "2s"];
    let stalkd = Stalkd::start(&tmpfs.data_dir(), &no_watermark);
    let (acked, _) = fill(&connect(&stalkd).await, MEDIUM).await;
    stalkd.terminate();
    // A supervisor restarts it at once, on the disk full to the last byte: it cannot start
    // there (and sled leaves an empty snapshot file behind).
    let brim = tmpfs.fill_to_the_brim();
    if let Ok(restarted) = Stalkd::try_start(&tmpfs.data_dir(), &no_watermark) {
        restarted.terminate();
    }

    free_ballast(&brim);
    free_ballast(&ballast);
    let stalkd = Stalkd::try_start(&tmpfs.data_dir(), &no_watermark)
        .unwrap_or_else(|failed| panic!("the data dir must open once space is free: {failed}"));
    let client = connect(&stalkd).await;
    let (stored, _) = client
        .list_tasks("fill", TaskState::Ready, 1000, None)
        .await
        .unwrap();
    let stored: std::collections::HashSet<_> = stored.into_iter().map(|t| t.id).collect();
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged tasks lost: {lost:?}",
        lost.len()
    );
}
