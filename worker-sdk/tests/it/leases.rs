//! The lease keeper: long tasks keep their lease; a task whose lease is lost is stopped.

use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;

use crate::support::{spawn, SOON};

#[tokio::test]
async fn a_task_longer_than_its_lease_runs_once() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.lease_duration(Duration::from_millis(300))
            .task("long", |(): ()| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, TaskError>(())
            })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("long").json(&()).unwrap())
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(status.attempts, 1, "the lease was kept: no second delivery");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_task_whose_lease_is_lost_is_stopped_and_its_slot_freed() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.concurrency(1)
            .lease_duration(Duration::from_millis(300))
            .task("stuck", |(): ()| async move {
                // Far longer than the test waits: only an abort frees the slot.
                tokio::time::sleep(Duration::from_secs(600)).await;
                Ok::<_, TaskError>(())
            })
            .task("quick", |(): ()| async move { Ok::<_, TaskError>(()) })
    })
    .await;
    let client = broker.client().await;
    let stuck = client
        .enqueue(Task::new("stuck").json(&()).unwrap())
        .await
        .unwrap();
    let running = wait_until(
        SOON,
        || async { client.result(&stuck.id, None).await.unwrap().state },
        |s| *s == TaskState::Running,
    )
    .await;
    assert_eq!(running, Ok(TaskState::Running));
    client.revoke(&[&stuck.id]).await.unwrap();
    let quick = client
        .enqueue(Task::new("quick").json(&()).unwrap())
        .await
        .unwrap();
    let status = quick.wait(&client, SOON).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Succeeded,
        "the slot of the revoked task was freed"
    );
    assert_eq!(
        client.result(&stuck.id, None).await.unwrap().state,
        TaskState::Revoked
    );
    worker.stop().await.unwrap();
}
