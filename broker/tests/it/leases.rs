//! Leases: long polls, expiry and redelivery, fencing, extend.

use std::time::Duration;

use stalk_client::{LeaseOptions, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use tonic::Code;

use crate::support::{enqueue, lease, lease_for, SOON};

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_task_arrives() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .lease(LeaseOptions {
                    wait: Duration::from_secs(30),
                    ..LeaseOptions::new(["q"])
                })
                .await
        })
    };
    let id = enqueue(&client, "q", "t").await;
    let leased = tokio::time::timeout(SOON, waiter)
        .await
        .expect("the long poll returned before its 30 s wait")
        .unwrap()
        .unwrap();
    assert_eq!(leased.first().map(|t| t.id.as_str()), Some(id.as_str()));
}

#[tokio::test]
async fn a_long_poll_with_nothing_to_do_returns_empty_after_its_wait() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let leased = client
        .lease(LeaseOptions {
            wait: Duration::from_millis(200),
            ..LeaseOptions::new(["empty"])
        })
        .await
        .unwrap();
    assert!(leased.is_empty());
}

#[tokio::test]
async fn an_expired_lease_redelivers_and_fences_out_the_slow_worker() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    enqueue(&client, "q", "t").await;
    let slow = lease_for(&client, "q", 1, Duration::from_millis(200))
        .await
        .remove(0);
    assert_eq!(slow.attempt, 1);
    let fast = wait_until(
        SOON,
        || async { lease(&client, "q", 1).await },
        |leased| !leased.is_empty(),
    )
    .await
    .expect("the task is redelivered after its lease expired")
    .remove(0);
    assert_eq!(fast.id, slow.id);
    assert_eq!(fast.attempt, 2, "redelivery is a new attempt");
    let refused = client.ack_success(&slow, Vec::new(), "").await.unwrap_err();
    assert_eq!(refused.code(), Some(Code::FailedPrecondition), "{refused}");
    let refused = client
        .extend_lease(&slow, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(Code::FailedPrecondition), "{refused}");
    assert_eq!(
        client.ack_success(&fast, Vec::new(), "").await.unwrap(),
        TaskState::Succeeded
    );
}

#[tokio::test]
async fn extending_a_lease_keeps_the_task_from_redelivery() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    enqueue(&client, "q", "t").await;
    let task = lease_for(&client, "q", 1, Duration::from_millis(300))
        .await
        .remove(0);
    let deadline = client
        .extend_lease(&task, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(deadline > std::time::SystemTime::now() + Duration::from_secs(30));
    // Well past the original 300 ms, the task must still be held by us: ask the broker.
    let status = wait_until(
        SOON,
        || async { client.result(&task.id, None).await.unwrap() },
        |s| {
            s.started_at
                .is_some_and(|t| t.elapsed().unwrap_or_default() > Duration::from_millis(600))
        },
    )
    .await
    .expect("time passes");
    assert_eq!(status.state, TaskState::Running);
    assert_eq!(status.attempts, 1);
    assert_eq!(
        client.ack_success(&task, Vec::new(), "").await.unwrap(),
        TaskState::Succeeded
    );
}

#[tokio::test]
async fn an_unknown_task_or_lease_is_named_in_the_error() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let err = client
        .ack_success(("nope", 7), Vec::new(), "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound), "{err}");
    enqueue(&client, "q", "t").await;
    let task = lease(&client, "q", 1).await.remove(0);
    let err = client
        .ack_success((task.id.as_str(), task.lease_id + 1), Vec::new(), "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::FailedPrecondition), "{err}");
}

#[tokio::test]
async fn lease_ids_stay_unique_across_restarts() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    client.enqueue(Task::new("t").id("x")).await.unwrap();
    let before = lease(&client, "default", 1).await.remove(0);
    broker.restart().await;
    let client = broker.client().await;
    let after = lease(&client, "default", 1).await.remove(0);
    assert_eq!(after.id, "x");
    assert!(
        after.lease_id > before.lease_id,
        "{} then {}",
        before.lease_id,
        after.lease_id
    );
    let stale = client
        .ack_success(&before, Vec::new(), "")
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some(Code::FailedPrecondition));
}

#[tokio::test]
async fn ack_many_applies_each_ack_on_its_own() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for _ in 0..3 {
        enqueue(&client, "q", "t").await;
    }
    let leased = lease(&client, "q", 3).await;
    let success = || stalk_client::AckOutcome::Success {
        value: b"1".to_vec().into(),
        content_type: "application/json".into(),
    };
    let failure = stalk_client::AckOutcome::Failure {
        kind: "E".into(),
        message: "boom".into(),
        fatal: true,
    };
    let stale = (leased[2].id.as_str(), leased[2].lease_id + 1);
    let results = client
        .ack_many([
            ((leased[0].id.as_str(), leased[0].lease_id), success()),
            ((leased[1].id.as_str(), leased[1].lease_id), failure),
            (stale, success()),
        ])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().ok(), Some(&TaskState::Succeeded));
    assert_eq!(results[1].as_ref().ok(), Some(&TaskState::Failed));
    let refused = results[2].as_ref().unwrap_err();
    assert_eq!(refused.code(), Some(Code::FailedPrecondition), "{refused}");
    assert_eq!(
        client.result(&leased[2].id, None).await.unwrap().state,
        TaskState::Running,
        "the refused ack changed nothing"
    );
    let repeat = client
        .ack_many([((leased[0].id.as_str(), leased[0].lease_id), success())])
        .await
        .unwrap();
    assert_eq!(
        repeat[0].as_ref().ok(),
        Some(&TaskState::Succeeded),
        "a repeat is OK"
    );
}

#[tokio::test]
async fn a_long_poll_on_several_queues_wakes_for_any_of_them() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .lease(LeaseOptions {
                    wait: Duration::from_secs(30),
                    ..LeaseOptions::new(["first", "second"])
                })
                .await
        })
    };
    let waiting = wait_until(SOON, || async { broker.broker().long_polls() }, |n| *n == 1).await;
    assert_eq!(waiting, Ok(1), "the long poll is waiting");
    enqueue(&client, "elsewhere", "t").await;
    let id = enqueue(&client, "second", "t").await;
    let leased = tokio::time::timeout(SOON, waiter)
        .await
        .expect("a task on the second queue ends the wait")
        .unwrap()
        .unwrap();
    assert_eq!(leased.first().map(|t| t.id.as_str()), Some(id.as_str()));
}
