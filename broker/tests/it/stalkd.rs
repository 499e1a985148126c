//! The `stalkd` binary: ready line, graceful exit on SIGTERM, startup errors that say what to fix.

use stalk_client::{Client, Task};

use crate::support::Stalkd;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalkd_serves_prints_its_address_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let stalkd = Stalkd::start(dir.path(), &[]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    let handle = client.enqueue(Task::new("t")).await.unwrap();
    // The client stays connected: shutdown must not wait for it to hang up.
    let status = tokio::task::spawn_blocking(move || stalkd.terminate())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let stalkd = Stalkd::start(dir.path(), &[]);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    assert!(client.result(&handle.id, None).await.unwrap().state == stalk_client::TaskState::Ready);
}

#[test]
fn a_busy_port_is_a_clear_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stalkd"))
        .args(["--listen", &addr, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unusable_data_dir_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stalkd"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open the data directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_data_dir_in_use_by_another_broker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Stalkd::start(dir.path(), &[]);
    let stderr = refused_start(dir.path());
    assert!(stderr.contains("no other stalkd"), "{stderr}");
}

#[test]
fn a_data_dir_with_a_record_from_a_newer_broker_is_refused_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let mut key = vec![0x02];
        key.extend_from_slice(&7u64.to_be_bytes());
        db.insert(key, vec![99, 1, 2, 3]).unwrap();
        db.flush().unwrap();
    }
    let stderr = refused_start(dir.path());
    assert!(stderr.contains("cannot be recovered"), "{stderr}");
    assert!(stderr.contains("version 99"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 11 (B6): `--listen` takes a host name, as `localhost:7070` in the README's spirit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalkd_listens_on_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let stalkd = Stalkd::start_on("localhost:0", dir.path(), &[]);
    assert!(stalkd.addr.ip().is_loopback(), "bound {}", stalkd.addr);
    let client = Client::connect(&stalkd.url()).await.unwrap();
    client.enqueue(Task::new("t")).await.unwrap();
}

/// Issue 11 (B6): stalkd reads durations as `stalk` and workers do: a bare number is seconds.
#[test]
fn durations_take_the_syntax_shared_by_every_binary() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        "--result-ttl",
        "3600",
        "--session-grace",
        "2",
        "--priority-aging",
        "0",
        "--worker-silence",
        "1m30s",
        "--shutdown-timeout",
        "5",
    ];
    let stalkd = Stalkd::start(dir.path(), &settings);
    assert!(stalkd.terminate().success());
}

/// Issue 11 (B6): a bad flag value or a setting out of range exits 2 (a usage error, as clap's
/// own are) with a message that names the setting and the accepted forms.
#[test]
fn bad_settings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, says) in [
        ("--flush-every", "soon", "500ms, 10s"),
        ("--result-ttl", "10ms", "result-ttl"),
        ("--listen", "localhost", "HOST:PORT"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_stalkd"))
            .args([flag, value, "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
    }
}

#[test]
fn logs_to_a_file_carry_no_colour_codes() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stalkd"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("STALK_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = std::io::BufReader::new(stdout).lines().next();
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(ready, Some(Ok(_))), "a ready line: {ready:?}");
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(logged.contains("INFO"), "{logged}");
    assert!(
        !logged.contains('\x1b'),
        "no colour codes in a file: {logged:?}"
    );
}

#[test]
fn a_data_dir_whose_db_file_was_removed_is_refused_not_opened_empty() {
    let dir = tempfile::tempdir().unwrap();
    let stalkd = Stalkd::start(dir.path(), &[]);
    stalkd.terminate();
    std::fs::remove_file(dir.path().join("db")).unwrap();
    let stderr = refused_start(dir.path());
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert!(stderr.contains("`db` file is missing"), "{stderr}");
    assert!(stderr.contains("restore it from a backup"), "{stderr}");
    assert!(
        !dir.path().join("db").exists(),
        "nothing was created in its place"
    );
}

/// Starts stalkd on `data_dir`, expects it to refuse with exit code 1, and returns its stderr.
fn refused_start(data_dir: &std::path::Path) -> String {
    match Stalkd::try_start(data_dir, &[]) {
        Ok(_) => panic!(
            "stalkd served {} where it must refuse it",
            data_dir.display()
        ),
        Err(refusal) => {
            assert!(
                refusal.starts_with("stalkd exited with exit status: 1 "),
                "{refusal}"
            );
            refusal
        }
    }
}
