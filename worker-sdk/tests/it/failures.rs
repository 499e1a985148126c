//! Failures: retryable errors retry, fatal ones and unknown task names dead-letter, panics are
//! failed attempts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::TaskError;

use crate::support::{spawn, SOON};

#[tokio::test]
async fn a_retryable_error_is_retried_until_it_succeeds() {
    let broker = TestBroker::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let worker = spawn(&broker, move |w| {
        w.task("flaky", move |(): ()| {
            let calls = seen.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(TaskError::retry("IOError", "try again"));
                }
                Ok("done".to_string())
            }
        })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(
            Task::new("flaky")
                .json(&())
                .unwrap()
                .retry_backoff(Duration::from_millis(10)),
        )
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(status.attempts, 3);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_fatal_error_dead_letters_the_task_at_once() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task("parse", |(): ()| async move {
            Err::<(), _>(TaskError::fatal("ValueError", "bad input"))
        })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("parse").json(&()).unwrap().max_retries(5))
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.attempts, 1);
    assert_eq!(status.error.map(|e| e.kind), Some("ValueError".into()));
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_task_name_goes_to_the_dead_letters_with_a_clear_error() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task("known", |(): ()| async move { Ok::<_, TaskError>(()) })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("unknown.task").json(&()).unwrap())
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Failed);
    let message = status.error.map(|e| e.message).unwrap_or_default();
    assert!(
        message.contains("no handler for task \"unknown.task\""),
        "{message}"
    );
    let after = client
        .enqueue(Task::new("known").json(&()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        after.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded,
        "the slot was given back"
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_is_a_failed_attempt_not_a_lost_slot() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.concurrency(1)
            .task("boom", |(): ()| async move {
                if true {
                    panic!("handler bug");
                }
                Ok::<_, TaskError>(())
            })
            .task("fine", |(): ()| async move { Ok::<_, TaskError>(()) })
    })
    .await;
    let client = broker.client().await;
    let boom = client
        .enqueue(Task::new("boom").json(&()).unwrap().max_retries(0))
        .await
        .unwrap();
    let status = boom.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.error.map(|e| e.kind), Some("Panic".into()));
    let fine = client
        .enqueue(Task::new("fine").json(&()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        fine.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn the_retry_policy_decides_which_kinds_retry() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.retry_policy(stalk_worker::RetryPolicy::default().never(["ValueError"]))
            .task("bad", |(): ()| async move {
                Err::<(), _>(TaskError::retry("ValueError", "retrying will not help"))
            })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("bad").json(&()).unwrap().max_retries(5))
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.attempts, 1, "the policy made the error fatal");
    worker.stop().await.unwrap();
}
