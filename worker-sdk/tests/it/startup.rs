//! Starting a worker (issue 11, B2): before its broker it waits for it, saying where; a broker
//! that refuses it, or never comes within the asked wait, is an error that reads as a sentence.

use std::time::Duration;

use stalk_client::Task;
use stalk_testkit::{ReservedPort, TestBroker};
use stalk_worker::{TaskError, Worker, WorkerError};

use crate::support::{finish, DemoWorker, SOON};

/// Asserts `text` is a sentence, not an error's or a status's Debug output.
fn assert_sentence(text: &str) {
    for debug in ["MetadataMap", "Step {", "Status {", "details:"] {
        assert!(!text.contains(debug), "Debug output in {text:?}");
    }
}

#[tokio::test]
async fn a_worker_started_before_its_broker_waits_for_it_then_runs_tasks() {
    let port = ReservedPort::new();
    let worker = DemoWorker::start_at(&port.url(), &[], "info");
    let waiting = worker.wait_for_log("waiting for the broker at").await;
    let log = waiting.expect("the worker says it waits");
    assert!(log.contains(&port.url()), "it says where: {log}");

    let broker = port.start().await;
    let client = broker.client().await;
    let status = finish(&client, Task::new("echo").json("hello").unwrap()).await;
    assert_eq!(status.json::<String>().unwrap(), "hello", "{status:?}");
}

#[tokio::test]
async fn a_bounded_wait_for_a_broker_that_never_comes_fails_with_its_address() {
    let port = ReservedPort::new();
    let err = Worker::builder(port.url())
        .wait_for_broker(Duration::from_millis(300))
        .task("echo", |v: u32| async move { Ok::<_, TaskError>(v) })
        .connect()
        .await
        .expect_err("no broker there");
    assert!(matches!(err, WorkerError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("cannot connect to the broker at {}", port.url())),
        "{text}"
    );
    assert_sentence(&text);
}

#[tokio::test]
async fn a_wrong_token_is_an_error_that_says_unauthenticated() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some("s3cret".into())).await;
    let worker = Worker::builder(broker.url())
        .auth_token("wrong")
        .task("echo", |v: u32| async move { Ok::<_, TaskError>(v) })
        .connect()
        .await
        .expect("the broker answers");
    let run = tokio::time::timeout(SOON, worker.run(std::future::pending()));
    let err = run.await.expect("refused at once").expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("UNAUTHENTICATED"), "{text}");
    assert!(text.contains("token"), "it says what to give: {text}");
    assert_sentence(&text);
}

#[tokio::test]
async fn the_demo_worker_prints_a_refusal_as_one_sentence_and_exits_1() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some("s3cret".into())).await;
    let mut worker = DemoWorker::start_at(&broker.url(), &["--token", "wrong"], "info");
    let status = worker.exited().await;
    assert_eq!(status.code(), Some(1), "{}", worker.log());
    let log = worker.log();
    let line = log
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line: {log}"));
    assert!(line.contains("UNAUTHENTICATED"), "{line}");
    assert_sentence(line);
}
