//! What a worker logs (issue 11, B3), through the demo worker with stderr in a file (not a
//! terminal): a startup line and a line per task, no color codes, JSON on request, and no
//! HTTP/2 frames at `STALK_LOG=debug`.

use stalk_client::Task;
use stalk_testkit::TestBroker;

use crate::support::{finish, DemoWorker};

/// Runs one `echo` task on `worker`'s broker and waits for the worker to log it.
async fn run_one(broker: &TestBroker, worker: &DemoWorker) -> String {
    let client = broker.client().await;
    finish(&client, Task::new("echo").json(&1).unwrap()).await;
    worker
        .wait_for_log("task succeeded")
        .await
        .expect("the worker logs the task")
}

#[tokio::test]
async fn the_demo_worker_says_what_it_does_without_color_codes() {
    let broker = TestBroker::start().await;
    let worker = DemoWorker::start(&broker, &["--queues", "default,b", "--concurrency", "3"]);
    let log = run_one(&broker, &worker).await;
    let ready = log
        .lines()
        .find(|line| line.contains("worker ready"))
        .unwrap_or_else(|| panic!("a startup line: {log}"));
    for fact in [
        &format!("broker={}", broker.url()),
        "queues=default,b",
        "tasks=block,echo,fan,leak,meta,patient,pid,sleep",
        "pool=async",
        "concurrency=3",
    ] {
        assert!(ready.contains(fact), "{fact:?} in {ready:?}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI codes off a terminal: {log:?}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let broker = TestBroker::start().await;
    let worker = DemoWorker::start(&broker, &["--log-format", "json"]);
    let log = run_one(&broker, &worker).await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let ready = lines
        .iter()
        .find(|line| line["fields"]["message"] == "worker ready")
        .unwrap_or_else(|| panic!("a startup line: {log}"));
    assert_eq!(ready["fields"]["pool"], "async", "{ready}");
    let done = lines
        .iter()
        .find(|line| line["fields"]["message"] == "task succeeded")
        .unwrap_or_else(|| panic!("a task line: {log}"));
    assert_eq!(done["fields"]["name"], "echo", "{done}");
}

#[tokio::test]
async fn debug_logs_show_the_worker_not_the_http2_frames() {
    let broker = TestBroker::start().await;
    let worker = DemoWorker::start_at(&broker.url(), &[], "debug");
    let log = run_one(&broker, &worker).await;
    assert!(log.contains("task received"), "debug shows receipts: {log}");
    for chatty in ["h2::", "hyper::", "hyper_util::", "tower::"] {
        assert!(!log.contains(chatty), "{chatty} at STALK_LOG=debug: {log}");
    }
}
