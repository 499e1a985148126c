//! Shutdown: a graceful stop ends long polls with UNAVAILABLE, finishes within its deadline and
//! loses nothing that was acknowledged.

use std::time::Duration;

use stalk_client::{LeaseOptions, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use tonic::Code;

use crate::support::SOON;

#[tokio::test]
async fn shutdown_ends_long_polls_with_unavailable_and_keeps_acknowledged_tasks() {
    let mut broker = TestBroker::start_with(|c| c.shutdown_timeout = Duration::from_secs(5)).await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("kept")).await.unwrap();
    let poll = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .lease(LeaseOptions {
                    wait: Duration::from_secs(60),
                    ..LeaseOptions::new(["empty"])
                })
                .await
        })
    };
    let result_poll = {
        let client = client.clone();
        let id = handle.id.clone();
        tokio::spawn(async move { client.result(&id, Some(Duration::from_secs(60))).await })
    };
    let waiting = wait_until(SOON, || async { broker.broker().long_polls() }, |n| *n == 2).await;
    assert_eq!(waiting, Ok(2), "both long polls are waiting in the broker");
    tokio::time::timeout(SOON, broker.restart())
        .await
        .expect("shutdown within its deadline");
    let err = poll.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    let err = result_poll.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    let client = broker.client().await;
    assert_eq!(
        client.result(&handle.id, None).await.unwrap().state,
        TaskState::Ready
    );
}
