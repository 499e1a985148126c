//! `stalk schedules …`: add, apply a file (twice: idempotent), list, next in the zone, pause,
//! remove; bad crontabs and flags.

use stalk_testkit::TestBroker;

use crate::support::Stalk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_added_listed_previewed_paused_and_removed() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    stalk
        .ok(&[
            "schedules",
            "add",
            "nightly",
            "--task",
            "report",
            "--cron",
            "30 2 * * *",
            "--tz",
            "Europe/Berlin",
            "--payload",
            "{\"kind\":\"daily\"}",
        ])
        .await
        .stdout_has("cron 30 2 * * * (Europe/Berlin)");
    let next = stalk.ok(&["schedules", "next", "nightly", "-n", "3"]).await;
    assert_eq!(next.stdout.lines().count(), 3, "{next}");
    for line in next.stdout.lines() {
        assert!(
            line.contains("T02:30:00+01:00") || line.contains("T02:30:00+02:00"),
            "fire times print in the schedule's zone: {line}"
        );
    }
    stalk
        .ok(&["schedules", "pause", "nightly"])
        .await
        .stdout_has("paused     yes");
    let list = stalk.ok(&["--json", "schedules", "list"]).await;
    assert_eq!(list.json()[0]["name"], "nightly");
    assert_eq!(list.json()[0]["paused"], true);
    stalk.ok(&["schedules", "remove", "nightly"]).await;
    stalk
        .expect(4, &["schedules", "show", "nightly"])
        .await
        .stderr_has("no schedule named \"nightly\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedules_file_applies_idempotently_and_bad_specs_are_refused() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schedules.json");
    std::fs::write(
        &file,
        r#"[{"name": "hourly", "task": "sync", "cron": "0 * * * *", "tz": "America/New_York",
             "misfire": "run-once"},
            {"name": "beat", "task": "ping", "every": "1h", "queue": "q", "overlap": "skip"}]"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let first = stalk.ok(&["--json", "schedules", "apply", path]).await;
    let again = stalk.ok(&["--json", "schedules", "apply", path]).await;
    assert_eq!(first.json(), again.json(), "applying twice changes nothing");
    assert_eq!(first.json().as_array().map(Vec::len), Some(2));
    stalk
        .expect(
            1,
            &[
                "schedules",
                "add",
                "bad",
                "--task",
                "t",
                "--cron",
                "61 * * * *",
            ],
        )
        .await
        .stderr_has("schedule.cron.expression");
    stalk
        .expect(
            1,
            &[
                "schedules",
                "add",
                "bad",
                "--task",
                "t",
                "--cron",
                "* * * * *",
                "--tz",
                "Mars/Base",
            ],
        )
        .await
        .stderr_has("schedule.cron.time_zone");
    stalk
        .expect(
            2,
            &[
                "schedules",
                "add",
                "bad",
                "--task",
                "t",
                "--every",
                "5s",
                "--cron",
                "* * * * *",
            ],
        )
        .await;
    std::fs::write(&file, r#"[{"name": "x", "task": "t", "every": "soon"}]"#).unwrap();
    stalk
        .expect(2, &["schedules", "apply", path])
        .await
        .stderr_has("is not a JSON list of schedules");
}

/// Issue 11 (B6): policies print as their flags spell them (`run-once`, not `RunOnce`), and the
/// interval and grace in the duration syntax the flags take, so output can be pasted back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_durations_print_as_the_flags_spell_them() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let add = [
        "schedules",
        "add",
        "beat",
        "--task",
        "ping",
        "--every",
        "90",
        "--misfire",
        "run-once",
        "--overlap",
        "buffer-one",
        "--grace",
        "2d",
    ];
    let run = stalk.ok(&add).await;
    run.stdout_has("when       every 1m30s\n")
        .stdout_has("misfire    run-once (grace 2d)\n")
        .stdout_has("overlap    buffer-one\n");
    let run = stalk.ok(&["schedules", "show", "beat", "--json"]).await;
    assert_eq!(
        (run.json()["misfire"].clone(), run.json()["overlap"].clone()),
        (
            serde_json::json!("run-once"),
            serde_json::json!("buffer-one")
        ),
        "{run}"
    );
}
