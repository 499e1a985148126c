//! Time limits: a soft limit the handler observes, a hard limit that stops the attempt; a
//! task's own limits override its type's, which override the worker's.

use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::{TaskContext, TaskError};

use crate::support::{spawn, SOON};

/// Longer than any test waits: only a time limit ends it.
const FOREVER: Duration = Duration::from_secs(600);

#[tokio::test]
async fn a_hard_limit_set_at_enqueue_stops_the_attempt_as_a_timeout() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task("hang", |(): ()| async move {
            tokio::time::sleep(FOREVER).await;
            Ok::<_, TaskError>(())
        })
    })
    .await;
    let client = broker.client().await;
    let task = Task::new("hang")
        .json(&())
        .unwrap()
        .time_limit(Duration::from_millis(200))
        .max_retries(0);
    let status = client
        .enqueue(task)
        .await
        .unwrap()
        .wait(&client, SOON)
        .await
        .unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.error.map(|e| e.kind),
        Some("TimeLimitExceeded".into())
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_soft_limit_tells_the_handler_which_can_clean_up() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.soft_time_limit(Duration::from_millis(100)).task_with_context("polite", |(): (), ctx: TaskContext| async move {
            tokio::select! {
                () = ctx.soft_limit_reached() => {
                    assert!(ctx.is_past_soft_limit());
                    Err::<(), _>(TaskError::fatal("SoftTimeLimitExceeded", "cleaned up and gave up"))
                }
                () = tokio::time::sleep(FOREVER) => Ok(()),
            }
        })
    })
    .await;
    let client = broker.client().await;
    let status = client
        .enqueue(Task::new("polite").json(&()).unwrap())
        .await
        .unwrap()
        .wait(&client, SOON)
        .await
        .unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.error.map(|e| e.kind),
        Some("SoftTimeLimitExceeded".into())
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_task_types_limit_overrides_the_workers() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.time_limit(FOREVER)
            .task_time_limits("strict", None, Some(Duration::from_millis(150)))
            .task("strict", |(): ()| async move {
                tokio::time::sleep(FOREVER).await;
                Ok::<_, TaskError>(())
            })
    })
    .await;
    let client = broker.client().await;
    let task = Task::new("strict").json(&()).unwrap().max_retries(0);
    let status = client
        .enqueue(task)
        .await
        .unwrap()
        .wait(&client, SOON)
        .await
        .unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.error.map(|e| e.kind),
        Some("TimeLimitExceeded".into())
    );
    worker.stop().await.unwrap();
}
