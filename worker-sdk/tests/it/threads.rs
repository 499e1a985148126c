//! The threads pool: every handler runs on a thread of its own, under the same time limits.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::{PoolKind, TaskContext, TaskError};
use tokio::sync::mpsc;

use crate::support::{finish, spawn, SOON};

#[tokio::test]
async fn blocking_and_async_handlers_run_on_threads() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.pool(PoolKind::Threads)
            .concurrency(2)
            .task_blocking("thread", |(): ()| {
                Ok::<_, TaskError>(std::thread::current().name().unwrap_or("").to_string())
            })
            .task("add", |(a, b): (i64, i64)| async move {
                Ok::<_, TaskError>(a + b)
            })
    })
    .await;
    let client = broker.client().await;
    let status = finish(&client, Task::new("add").json(&(2, 3)).unwrap()).await;
    assert_eq!(status.json::<i64>().unwrap(), 5);
    let status = finish(&client, Task::new("thread").json(&()).unwrap()).await;
    assert_eq!(status.state, TaskState::Succeeded);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn time_limits_apply_to_blocking_handlers() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.pool(PoolKind::Threads)
            .task_blocking_with_context("poll", |(): (), ctx: TaskContext| {
                // A blocking handler checks its soft limit itself.
                while !ctx.is_past_soft_limit() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok::<_, TaskError>("stopped at the soft limit")
            })
            .task_blocking("stuck", |ms: u64| {
                std::thread::sleep(Duration::from_millis(ms));
                Ok::<_, TaskError>(())
            })
    })
    .await;
    let client = broker.client().await;
    let soft = Task::new("poll")
        .json(&())
        .unwrap()
        .soft_time_limit(Duration::from_millis(100));
    let status = finish(&client, soft).await;
    assert_eq!(
        status.json::<String>().unwrap(),
        "stopped at the soft limit"
    );
    // The thread sleeps on past the hard limit (threads cannot be killed); the attempt is
    // reported as timed out when it returns.
    let hard = Task::new("stuck")
        .json(&300u64)
        .unwrap()
        .time_limit(Duration::from_millis(100))
        .max_retries(0);
    let status = finish(&client, hard).await;
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.error.unwrap().kind, "TimeLimitExceeded");
    worker.stop().await.unwrap();
}

/// What the handlers of the slot test tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    HoldStarted,
    HoldPastLimit,
    NextStarted,
}

/// The next thing the handlers tell, within `within`.
async fn next_seen(seen: &mut mpsc::UnboundedReceiver<Seen>, within: Duration) -> Option<Seen> {
    tokio::time::timeout(within, seen.recv())
        .await
        .ok()
        .flatten()
}

/// Issue 11, A5: a thread cannot be stopped, so a blocking attempt past its hard time limit
/// keeps its slot until it returns (before, its slot went to the next task while it ran on,
/// and the pool grew past its concurrency), and its failure says the thread could not be
/// stopped.
#[tokio::test]
async fn a_thread_past_its_hard_limit_keeps_its_slot_until_it_returns() {
    let broker = TestBroker::start().await;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let (tell, mut seen) = mpsc::unbounded_channel::<Seen>();
    let tell_next = tell.clone();
    let worker = spawn(&broker, move |w| {
        w.pool(PoolKind::Threads)
            .concurrency(1)
            .task_blocking_with_context("hold", move |(): (), ctx: TaskContext| {
                let _ = tell.send(Seen::HoldStarted);
                let released = released.lock();
                let mut told = false;
                // Waits for the test, telling it when the worker says the limit passed.
                loop {
                    match released.recv_timeout(Duration::from_millis(5)) {
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) if !told && ctx.is_past_soft_limit() => {
                            told = true;
                            let _ = tell.send(Seen::HoldPastLimit);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                }
                Ok::<_, TaskError>(())
            })
            .task_blocking("next", move |(): ()| {
                let _ = tell_next.send(Seen::NextStarted);
                Ok::<_, TaskError>(())
            })
    })
    .await;
    let client = broker.client().await;
    let hold = Task::new("hold")
        .json(&())
        .unwrap()
        .time_limit(Duration::from_millis(200))
        .max_retries(0);
    let hold = client.enqueue(hold).await.unwrap();
    assert_eq!(next_seen(&mut seen, SOON).await, Some(Seen::HoldStarted));
    let next = Task::new("next").json(&()).unwrap();
    let next = client.enqueue(next).await.unwrap();

    let first = next_seen(&mut seen, SOON).await;
    assert_eq!(
        first,
        Some(Seen::HoldPastLimit),
        "past the hard limit the blocked thread must be told, and the next task must not start"
    );
    // A negative, so a bounded wait: on a pool that frees the slot, `next` starts within a few
    // ms of the limit.
    let early = next_seen(&mut seen, Duration::from_millis(500)).await;
    assert_eq!(early, None, "a task started while the slot's thread ran on");

    release.send(()).unwrap();
    assert_eq!(next_seen(&mut seen, SOON).await, Some(Seen::NextStarted));
    let next = next.wait(&client, SOON).await.unwrap();
    assert_eq!(next.state, TaskState::Succeeded, "{next:?}");
    let hold = hold.wait(&client, SOON).await.unwrap();
    assert_eq!(hold.state, TaskState::Failed, "{hold:?}");
    let error = hold.error.unwrap();
    assert_eq!(error.kind, "TimeLimitExceeded");
    assert!(
        error.message.contains("could not be stopped"),
        "the failure says the thread ran on: {}",
        error.message
    );
    worker.stop().await.unwrap();
}
