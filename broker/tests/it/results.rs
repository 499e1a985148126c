//! Results: GetResult states, long-poll waits, TTL.

use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{lease, SOON};

#[tokio::test]
async fn waiting_on_a_result_returns_when_the_task_succeeds() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("add").json(&[2, 3]).unwrap())
        .await
        .unwrap();
    let waiter = {
        let (client, handle) = (client.clone(), handle.clone());
        tokio::spawn(async move { handle.wait(&client, Duration::from_secs(30)).await })
    };
    let task = lease(&client, "default", 1).await.remove(0);
    let args: Vec<i32> = task.json().unwrap();
    client.ack_json(&task, &(args[0] + args[1])).await.unwrap();
    let status = tokio::time::timeout(SOON, waiter)
        .await
        .expect("wait returned")
        .unwrap()
        .unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(status.json::<i32>().unwrap(), 5);
    assert_eq!(status.attempts, 1);
    assert!(status.started_at.is_some() && status.finished_at.is_some());
}

#[tokio::test]
async fn an_id_never_seen_is_unknown_not_pending() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let status = client.result("never-enqueued", None).await.unwrap();
    assert_eq!(status.state, TaskState::Unknown);
}

#[tokio::test]
async fn a_wait_on_an_unfinished_task_returns_its_state_after_the_wait() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t")).await.unwrap();
    let status = client
        .result(&handle.id, Some(Duration::from_millis(200)))
        .await
        .unwrap();
    assert_eq!(status.state, TaskState::Ready);
}

#[tokio::test]
async fn results_expire_after_their_ttl() {
    let broker = TestBroker::start_with(|c| c.result_ttl = Duration::from_millis(300)).await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t")).await.unwrap();
    let task = lease(&client, "default", 1).await.remove(0);
    client
        .ack_success(&task, b"done".to_vec(), "text/plain")
        .await
        .unwrap();
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert!(status.result_expires_at.is_some());
    let gone = wait_until(
        SOON,
        || async { client.result(&handle.id, None).await.unwrap().state },
        |s| *s == TaskState::Unknown,
    )
    .await;
    assert_eq!(gone, Ok(TaskState::Unknown), "the result outlived its TTL");
}
