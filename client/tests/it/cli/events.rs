//! `stalk events` and `stalk task ID --history`: the stream as lines of text or JSON, filters,
//! an unknown type refused by name, and a tail that reconnects after a broker restart and goes
//! on from where it was, with nothing twice.

use std::process::Stdio;

use stalk_client::Task;
use stalk_testkit::TestBroker;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{lease_one, Stalk, SOON};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_the_retained_stream_as_text_or_json_lines_and_filters_it() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("mail").queue("q").id("t-1"))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    client.ack_json(&task, &1).await.unwrap();
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["events", "--from", "0", "--no-follow"]).await;
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{run}");
    for (line, kind) in
        lines
            .iter()
            .zip(["task-sent", "task-leased", "task-started", "task-succeeded"])
    {
        assert!(line.contains(kind) && line.contains("task=t-1"), "{run}");
    }
    assert!(lines[3].contains("runtime="), "{run}");

    let run = stalk
        .ok(&[
            "--json",
            "events",
            "--from",
            "0",
            "--no-follow",
            "--type",
            "task-succeeded",
        ])
        .await;
    let docs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 1, "{run}");
    assert_eq!(docs[0]["type"], "task-succeeded");
    assert_eq!(docs[0]["task_id"], "t-1");
    assert_eq!(docs[0]["state"], "SUCCEEDED");
    assert!(docs[0]["seq"].is_u64(), "{run}");

    let run = stalk
        .expect(1, &["events", "--type", "task-exploded"])
        .await;
    assert!(
        run.stderr.contains("types[0]") && run.stderr.contains("task-exploded"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_history_lists_every_event_of_the_task_after_its_state() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("mail").queue("q").id("h-1"))
        .await
        .unwrap();
    client
        .enqueue(Task::new("mail").queue("q").id("other"))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    client
        .ack_failure(&task, "Boom", "it broke", true, None)
        .await
        .unwrap();
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["task", "h-1", "--history"]).await;
    run.stdout_has("state      FAILED\n")
        .stdout_has("history:\n");
    let history: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "history:")
        .skip(1)
        .collect();
    let kinds = [
        "task-sent",
        "task-leased",
        "task-started",
        "task-failed",
        "task-dead-lettered",
    ];
    assert_eq!(history.len(), kinds.len(), "{run}");
    for (line, kind) in history.iter().zip(kinds) {
        assert!(line.contains(kind) && !line.contains("other"), "{run}");
    }

    let run = stalk.ok(&["--json", "task", "h-1", "--history"]).await;
    let doc = run.json();
    assert_eq!(doc["state"], "FAILED");
    assert_eq!(doc["history"].as_array().map(Vec::len), Some(5), "{run}");
    assert_eq!(doc["history"][3]["error"]["kind"], "Boom");

    stalk.expect(4, &["task", "nobody", "--history"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_goes_on_after_a_broker_restart_from_where_it_was() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("before"))
        .await
        .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stalk"))
        .args(["--addr", &broker.url(), "--json", "events", "--from", "0"])
        .env_remove("STALK_ADDR")
        .env_remove("STALK_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_doc = async || -> serde_json::Value {
        let line = tokio::time::timeout(SOON, lines.next_line())
            .await
            .expect("a line within the timeout")
            .unwrap()
            .expect("the tail is still running");
        serde_json::from_str(&line).unwrap()
    };
    let first = next_doc().await;
    assert_eq!(first["task_id"], "before");

    broker.restart().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("after"))
        .await
        .unwrap();
    let second = next_doc().await;
    assert_eq!(second["task_id"], "after", "nothing twice: {second}");
    assert!(second["seq"].as_u64() > first["seq"].as_u64());
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_what_holds_a_task() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(
            Task::new("t")
                .queue("later")
                .id("e-1")
                .countdown(std::time::Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let stalk = Stalk::for_broker(&broker);
    let run = stalk.ok(&["explain", "e-1"]).await;
    run.stdout_has("e-1 is SCHEDULED\n")
        .stdout_has("  - its ETA has not come (until ")
        .stdout_has("[eta]\n")
        .stdout_has("  - no live worker consumes its queue \"later\" [no_worker_for_queue]\n");
    let doc = stalk.ok(&["--json", "explain", "e-1"]).await.json();
    assert_eq!(doc["reasons"][0]["code"], "eta");
    assert!(doc["reasons"][0]["until"].is_string(), "{doc}");
    stalk.expect(4, &["explain", "nobody"]).await;
}
