//! Handlers read like Rust (issue 11, B4): `?` on any standard error, and the task's metadata
//! from the context, in this process and in a prefork child.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::{TaskContext, TaskError};

use crate::support::{finish, spawn, DemoWorker};

/// The `ParseIntError` kind as `?` reports it: the error's Rust type.
const PARSE_INT_ERROR: &str = "core::num::error::ParseIntError";

#[tokio::test]
async fn question_mark_on_a_std_error_is_a_retryable_failure_unless_made_fatal() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task("parse", |text: String| async move {
            let n: u32 = text.parse()?;
            Ok::<_, TaskError>(n)
        })
        .task("parse-or-give-up", |text: String| async move {
            let n: u32 = text.parse().map_err(TaskError::fatal_from)?;
            Ok::<_, TaskError>(n)
        })
    })
    .await;
    let client = broker.client().await;
    let ok = finish(&client, Task::new("parse").json("42").unwrap()).await;
    assert_eq!(ok.json::<u32>().unwrap(), 42);

    let retried = Task::new("parse")
        .json("forty-two")
        .unwrap()
        .max_retries(1)
        .retry_backoff(Duration::from_millis(10));
    let retried = finish(&client, retried).await;
    assert_eq!(retried.state, TaskState::Failed, "{retried:?}");
    assert_eq!(retried.attempts, 2, "retryable: one retry ran: {retried:?}");
    let error = retried.error.unwrap();
    assert_eq!(error.kind, PARSE_INT_ERROR);
    assert_eq!(error.message, "invalid digit found in string");

    let fatal = Task::new("parse-or-give-up")
        .json("forty-two")
        .unwrap()
        .max_retries(3);
    let fatal = finish(&client, fatal).await;
    assert_eq!(fatal.state, TaskState::Failed, "{fatal:?}");
    assert_eq!(fatal.attempts, 1, "fatal: no retry: {fatal:?}");
    assert_eq!(fatal.error.unwrap().kind, PARSE_INT_ERROR);
    worker.stop().await.unwrap();
}

/// The metadata of the task a context belongs to, as JSON.
fn meta_json(ctx: &TaskContext) -> Value {
    let meta = ctx.meta();
    json!({
        "id": ctx.task_id(),
        "name": meta.name,
        "queue": meta.queue,
        "attempt": ctx.attempt(),
        "priority": meta.priority,
        "tenant": ctx.header("tenant"),
        "enqueued_at": meta.enqueued_at.map(ms_since_epoch),
        "ready_at": meta.ready_at.map(ms_since_epoch),
        "expires_at": meta.expires_at.map(ms_since_epoch),
    })
}

fn ms_since_epoch(time: SystemTime) -> u128 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// A task with metadata to read: queue, priority, a header, a countdown and an expiry.
fn described(queue: &str) -> Task {
    Task::new("meta")
        .id(format!("meta-on-{queue}"))
        .queue(queue)
        .priority(7)
        .header("tenant", "acme")
        .countdown(Duration::from_millis(200))
        .expires_in(Duration::from_secs(3600))
        .json(&())
        .unwrap()
}

/// What a `meta` handler must have seen of [`described`]`(queue)`.
fn assert_described(seen: &Value, queue: &str) {
    assert_eq!(seen["id"], format!("meta-on-{queue}"), "{seen}");
    assert_eq!(seen["name"], "meta", "{seen}");
    assert_eq!(seen["queue"], queue, "{seen}");
    assert_eq!(seen["attempt"], 1, "{seen}");
    assert_eq!(seen["priority"], 7, "{seen}");
    assert_eq!(seen["tenant"], "acme", "{seen}");
    let enqueued = seen["enqueued_at"].as_u64().expect("an enqueue time");
    let ready = seen["ready_at"].as_u64().expect("a ready time");
    assert!(
        ready >= enqueued + 200,
        "ready at the end of the countdown: {seen}"
    );
    let expires = seen["expires_at"].as_u64().expect("an expiry");
    assert!(expires >= enqueued + 3_600_000, "{seen}");
}

#[tokio::test]
async fn handlers_read_the_task_metadata_from_their_context() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.queues(["described"])
            .task_with_context("meta", |(): (), ctx: TaskContext| async move {
                Ok::<_, TaskError>(meta_json(&ctx))
            })
    })
    .await;
    let client = broker.client().await;
    let status = finish(&client, described("described")).await;
    assert_described(&status.json::<Value>().unwrap(), "described");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_prefork_child_reads_the_same_metadata() {
    let broker = TestBroker::start().await;
    let _worker = DemoWorker::start(&broker, &["--queues", "pf-meta", "--pool", "prefork"]);
    let client = broker.client().await;
    let status = finish(&client, described("pf-meta")).await;
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    assert_described(&status.json::<Value>().unwrap(), "pf-meta");
}
