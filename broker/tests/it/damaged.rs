//! A damaged data dir (issue 12, §2): bytes cut from or flipped in sled's files while stalkd is
//! stopped, or a file restored from an older copy, must never give a broker that starts with
//! acknowledged work undone. Each case is refused at start with an error that names the damage,
//! or starts with every task in the state it was acknowledged in; `--accept-data-loss` starts
//! what could be recovered and says how much was lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stalk_client::{Client, Task, TaskState};

use crate::support::{copy_dir, lease, Stalkd};

const QUEUE: &str = "damaged";
/// Tasks written before the damage; the first half are acked.
const TASKS: usize = 400;
const ACKED: usize = TASKS / 2;

/// What the data dir held when stalkd stopped: each task's state.
type Expected = BTreeMap<String, TaskState>;

/// Starts stalkd on a new data dir, enqueues [`TASKS`] tasks with 1 KiB payloads and stops it;
/// then starts it again (so sled writes a snapshot), acks the first [`ACKED`], and stops it.
async fn populated(dir: &Path) -> Expected {
    let stalkd = Stalkd::start(dir, &[]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    let mut expected = Expected::new();
    for chunk in (0..TASKS).collect::<Vec<_>>().chunks(50) {
        let tasks: Vec<Task> = chunk
            .iter()
            .map(|i| {
                Task::new("damage.test")
                    .queue(QUEUE)
                    .id(format!("t-{i:04}"))
                    .payload(vec![b'x'; 1024], "application/octet-stream")
            })
            .collect();
        client.enqueue_many(tasks).await.unwrap();
    }
    assert!(stalkd.terminate().success());
    let stalkd = Stalkd::start(dir, &[]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    let mut acked = 0;
    while acked < ACKED {
        for task in lease(&client, QUEUE, 50).await {
            client
                .ack_success(&task, b"1".to_vec(), "application/json")
                .await
                .unwrap();
            expected.insert(task.id.clone(), TaskState::Succeeded);
            acked += 1;
        }
    }
    for i in 0..TASKS {
        expected
            .entry(format!("t-{i:04}"))
            .or_insert(TaskState::Ready);
    }
    assert!(stalkd.terminate().success());
    expected
}

/// The tasks whose state now differs from what was acknowledged, as "id: expected -> found".
async fn differences(stalkd: &Stalkd, expected: &Expected) -> Vec<String> {
    let client = Client::connect(&stalkd.url()).await.unwrap();
    let mut wrong = Vec::new();
    for (id, state) in expected {
        let found = client.result(id, None).await.unwrap().state;
        if found != *state {
            wrong.push(format!("{id}: {state:?} -> {found:?}"));
        }
    }
    wrong
}

/// One way of damaging a stopped data dir.
struct Damage {
    what: String,
    apply: Box<dyn Fn(&Path)>,
}

fn cut_db(percent: u64) -> Damage {
    Damage {
        what: format!("db cut to {percent}% of its length"),
        apply: Box::new(move |dir| {
            let db = dir.join("db");
            let len = std::fs::metadata(&db).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
            file.set_len(len * percent / 100).unwrap();
        }),
    }
}

fn flip(file: &'static str, at: &'static str, offset: fn(u64) -> u64) -> Damage {
    Damage {
        what: format!("a byte of {file} flipped at {at}"),
        apply: Box::new(move |dir| {
            let path = sled_file(dir, file);
            let mut bytes = std::fs::read(&path).unwrap();
            let i = usize::try_from(offset(bytes.len() as u64)).unwrap();
            bytes[i] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
        }),
    }
}

fn remove(file: &'static str) -> Damage {
    Damage {
        what: format!("{file} removed"),
        apply: Box::new(move |dir| std::fs::remove_file(sled_file(dir, file)).unwrap()),
    }
}

/// The path of `file` in `dir`; `snap` names sled's (only) finished snapshot.
fn sled_file(dir: &Path, file: &str) -> PathBuf {
    if file != "snap" {
        return dir.join(file);
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .expect("sled wrote a snapshot")
}

/// Replaces sled's files in `dir` by those in `copy`, keeping `dir`'s commit mark.
fn restore_sled_files(copy: &Path, dir: &Path) {
    let keep = |entry: &std::fs::DirEntry| entry.file_name() == "stalk-commit-mark";
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        if entry.file_type().unwrap().is_dir() {
            std::fs::remove_dir_all(entry.path()).unwrap();
        } else if !keep(&entry) {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    for entry in std::fs::read_dir(copy).unwrap().map(Result::unwrap) {
        let to = dir.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else if !keep(&entry) {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_files_are_refused_or_lose_nothing() {
    let pristine = tempfile::tempdir().unwrap();
    let expected = populated(pristine.path()).await;
    let damages = [
        cut_db(25),
        cut_db(50),
        cut_db(75),
        cut_db(95),
        flip("db", "a quarter", |len| len / 4),
        flip("db", "half", |len| len / 2),
        flip("db", "three quarters", |len| len * 3 / 4),
        flip("db", "its last KiB", |len| len - 1000),
        flip("snap", "half", |len| len / 2),
        flip("conf", "its start", |_| 2),
        flip("stalk-commit-mark", "its start", |_| 0),
        remove("snap"),
        remove("conf"),
        remove("stalk-commit-mark"),
    ];
    let mut wrong_outcomes = Vec::new();
    for damage in &damages {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), dir.path());
        (damage.apply)(dir.path());
        match Stalkd::try_start(dir.path(), &[]) {
            Err(refusal) => {
                if !(refusal.contains("exited with exit status: 1")
                    && refusal.contains("is damaged"))
                {
                    wrong_outcomes.push(format!(
                        "{}: refused without naming the damage: {refusal}",
                        damage.what
                    ));
                }
            }
            Ok(stalkd) => {
                let wrong = differences(&stalkd, &expected).await;
                if !wrong.is_empty() {
                    wrong_outcomes.push(format!(
                        "{}: started with {} of {} tasks changed, e.g. {:?}",
                        damage.what,
                        wrong.len(),
                        expected.len(),
                        &wrong[..wrong.len().min(3)]
                    ));
                }
            }
        }
    }
    assert!(
        wrong_outcomes.is_empty(),
        "damage not refused as damage, or started with acknowledged work undone:\n{}",
        wrong_outcomes.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sled_files_restored_from_an_older_copy_are_refused_unless_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let older = tempfile::tempdir().unwrap();
    let stalkd = Stalkd::start(dir.path(), &[]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    for i in 0..20 {
        client
            .enqueue(Task::new("t").queue(QUEUE).id(format!("t-{i}")))
            .await
            .unwrap();
    }
    assert!(stalkd.terminate().success());
    copy_dir(dir.path(), older.path());

    let stalkd = Stalkd::start(dir.path(), &[]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    for task in lease(&client, QUEUE, 20).await {
        client.ack_success(&task, b"1".to_vec(), "").await.unwrap();
    }
    assert!(stalkd.terminate().success());
    // The operator puts back sled's files from the copy, keeping the newer commit mark.
    restore_sled_files(older.path(), dir.path());

    let refusal = Stalkd::try_start(dir.path(), &[]).err().expect("refused");
    for part in [
        "is damaged: sled recovered its log up to group commit",
        "restore it from a backup, or start stalkd with --accept-data-loss",
    ] {
        assert!(refusal.contains(part), "{part:?} in {refusal}");
    }
    // Refusing changed nothing: a second start is refused the same way.
    assert!(Stalkd::try_start(dir.path(), &[]).is_err());

    let stalkd = Stalkd::start(dir.path(), &["--accept-data-loss"]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    let task = client.result("t-3", None).await.unwrap();
    assert_eq!(
        task.state,
        TaskState::Ready,
        "its ack was lost with the copy"
    );
    let (status, log) = stalkd.terminate_with_log();
    assert!(status.success());
    assert!(
        log.contains("--accept-data-loss: starting with what sled recovered")
            && log.contains("group commits are gone"),
        "{log}"
    );
    // Once accepted, the data dir starts as any other.
    let stalkd = Stalkd::start(dir.path(), &[]);
    assert!(stalkd.terminate().success());
}

/// Runs `stalkd check --data-dir <dir> <extra>`: exit code and stdout + stderr.
fn stalkd_check(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stalkd"))
        .args(["check", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn stalkd_check_counts_what_a_data_dir_holds_and_lists_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path()).await;

    let (code, text) = stalkd_check(dir.path(), &[]);
    assert_eq!(code, Some(0), "{text}");
    for line in [
        "tasks: 400 (ready 200, succeeded 200)",
        "queue damaged: 400 (ready 200, succeeded 200)",
        "problems: none",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let (code, json) = stalkd_check(dir.path(), &["--json"]);
    assert_eq!(code, Some(0), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["tasks"]["succeeded"], 200);
    assert_eq!(report["problem_count"], 0);

    let older = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), older.path());
    let running = Stalkd::start(dir.path(), &[]);
    let (code, text) = stalkd_check(dir.path(), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no other stalkd uses it"), "{text}");
    assert!(running.terminate().success());

    restore_sled_files(older.path(), dir.path());
    let (code, text) = stalkd_check(dir.path(), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("problems: 1"), "{text}");
    assert!(
        text.contains("sled recovered its log up to group commit"),
        "{text}"
    );

    std::fs::remove_file(dir.path().join("stalk-commit-mark")).unwrap();
    let (code, text) = stalkd_check(dir.path(), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("stalk-commit-mark is missing"), "{text}");
    assert!(
        !dir.path().join("stalk-commit-mark").exists(),
        "the check writes no mark"
    );

    (cut_db(50).apply)(dir.path());
    let (code, text) = stalkd_check(dir.path(), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is damaged"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    let (code, text) = stalkd_check(empty.path(), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("holds no stalk data"), "{text}");
}
