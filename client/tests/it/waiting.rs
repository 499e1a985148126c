//! Waiting for results: `Client::result` with a wait and `Client::wait_for` long-poll GetResult
//! in calls of at most `MAX_POLL_WAIT` (the broker refuses longer ones), give up with a
//! `Timeout` naming the last state, and answer an unknown id at once.

use std::time::Duration;

use stalk_client::{ClientError, Task, TaskState, MAX_POLL_WAIT};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{lease_one, SOON};

#[tokio::test]
async fn a_wait_longer_than_one_poll_is_split_and_ends_when_the_task_does() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let timeout = MAX_POLL_WAIT * 3;
    let waiter = {
        let (client, handle) = (client.clone(), handle.clone());
        tokio::spawn(async move { handle.wait(&client, timeout).await })
    };
    // Ack only once the waiter sits in the broker, so this tests the wake-up, not a first read.
    let polls = wait_until(SOON, || async { broker.broker().long_polls() }, |n| *n == 1).await;
    assert_eq!(
        polls,
        Ok(1),
        "the {timeout:?} wait became one accepted long poll"
    );
    let task = lease_one(&client, "q").await;
    client.ack_json(&task, &"done").await.unwrap();
    let status = tokio::time::timeout(SOON, waiter)
        .await
        .expect("the wait ended when the task did, not after its timeout")
        .unwrap()
        .expect("the wait succeeds");
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    assert_eq!(status.json::<String>().unwrap(), "done");
}

#[tokio::test]
async fn wait_for_gives_up_with_a_timeout_naming_the_last_state() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let ready = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let err = client
        .wait_for(&ready.id, Duration::from_millis(200))
        .await
        .expect_err("nobody works on the queue");
    assert!(
        matches!(&err, ClientError::Timeout { task_id, state: TaskState::Ready, waited }
            if *task_id == ready.id && *waited == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(err.to_string().contains("still READY"), "{err}");

    lease_one(&client, "q").await;
    let err = client
        .wait_for(&ready.id, Duration::from_millis(100))
        .await
        .expect_err("the lease holder never acks");
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                state: TaskState::Running,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_id_is_answered_at_once_not_waited_for() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let status = tokio::time::timeout(SOON, client.wait_for("never-enqueued", MAX_POLL_WAIT))
        .await
        .expect("an unknown id does not wait out the timeout")
        .expect("unknown is an answer, not an error");
    assert_eq!(status.state, TaskState::Unknown, "{status:?}");
    assert_eq!(status.id, "never-enqueued");
}

/// Regression: a deadline of `now + Duration::MAX` overflowed `Instant` and panicked.
#[tokio::test]
async fn an_endless_wait_is_honoured_not_a_panic() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let task = lease_one(&client, "q").await;
    client.ack_json(&task, &7).await.unwrap();
    let status = client
        .result(&handle.id, Some(Duration::MAX))
        .await
        .expect("result with an endless wait");
    assert_eq!(status.state, TaskState::Succeeded);
    let status = handle
        .wait(&client, Duration::MAX)
        .await
        .expect("wait_for with an endless timeout");
    assert_eq!(status.json::<i32>().unwrap(), 7);
}
