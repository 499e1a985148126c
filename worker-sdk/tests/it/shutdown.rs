//! Warm shutdown: running tasks finish and are acked; nothing is lost.

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;
use tokio::sync::Semaphore;

use crate::support::{spawn, SOON};

#[tokio::test]
async fn warm_shutdown_finishes_the_running_task_and_acks_it() {
    let broker = TestBroker::start().await;
    let gate = std::sync::Arc::new(Semaphore::new(0));
    let open = gate.clone();
    let mut worker = spawn(&broker, move |w| {
        w.concurrency(1).task("gated", move |(): ()| {
            let gate = open.clone();
            async move {
                let _permit = gate
                    .acquire()
                    .await
                    .map_err(|e| TaskError::fatal("Gate", e.to_string()))?;
                Ok::<_, TaskError>("finished")
            }
        })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("gated").json(&()).unwrap())
        .await
        .unwrap();
    let running = wait_until(
        SOON,
        || async { client.result(&handle.id, None).await.unwrap().state },
        |s| *s == TaskState::Running,
    )
    .await;
    assert_eq!(running, Ok(TaskState::Running));
    // The stop is requested while the task is still held at the gate.
    worker.request_stop();
    gate.add_permits(1);
    worker.stop().await.expect("warm shutdown ends cleanly");
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Succeeded,
        "the running task was finished and acked"
    );
}

#[tokio::test]
async fn past_the_shutdown_timeout_running_tasks_are_stopped_and_given_back() {
    let broker = TestBroker::start().await;
    let mut worker = spawn(&broker, |w| {
        w.shutdown_timeout(std::time::Duration::from_millis(200))
            .task("stuck", |(): ()| async move {
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                Ok::<_, TaskError>(())
            })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("stuck").json(&()).unwrap())
        .await
        .unwrap();
    let running = wait_until(
        SOON,
        || async { client.result(&handle.id, None).await.unwrap().state },
        |s| *s == TaskState::Running,
    )
    .await;
    assert_eq!(running, Ok(TaskState::Running));
    worker.request_stop();
    worker
        .stop()
        .await
        .expect("the worker stops at its deadline");
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Ready,
        "given back at once, never acked"
    );
    assert_eq!(status.attempts, 1);
}
