//! The threads pool: every handler runs on a thread of its own, under the same time limits.

use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::{PoolKind, TaskContext, TaskError};

use crate::support::{finish, spawn};

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
    // The thread sleeps on past the hard limit (threads cannot be killed), but the attempt is
    // reported as timed out at once.
    let hard = Task::new("stuck")
        .json(&1_500u64)
        .unwrap()
        .time_limit(Duration::from_millis(100))
        .max_retries(0);
    let status = finish(&client, hard).await;
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.error.unwrap().kind, "TimeLimitExceeded");
    worker.stop().await.unwrap();
}
