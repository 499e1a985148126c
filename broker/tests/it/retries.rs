//! Retries: failures back off and retry, then fail into the dead-letter set; dead letters replay.

use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{lease, SOON};

/// Leases the next attempt of a task, waiting out its backoff.
async fn next_attempt(client: &stalk_client::Client, queue: &str) -> stalk_client::LeasedTask {
    wait_until(
        SOON,
        || async { lease(client, queue, 1).await },
        |l| !l.is_empty(),
    )
    .await
    .expect("the retry becomes ready")
    .remove(0)
}

#[tokio::test]
async fn a_failed_attempt_retries_with_backoff_until_the_budget_is_spent() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client
        .enqueue(
            Task::new("flaky")
                .queue("q")
                .max_retries(2)
                .retry_backoff(Duration::from_millis(50))
                .retry_backoff_max(Duration::from_millis(200)),
        )
        .await
        .unwrap();
    for attempt in 1..=2 {
        let task = next_attempt(&client, "q").await;
        assert_eq!(task.attempt, attempt);
        assert_eq!(task.retries_left, 3 - attempt);
        let state = client
            .ack_failure(&task, "IOError", "disk on fire", false, None)
            .await
            .unwrap();
        assert_eq!(state, TaskState::Retrying);
        let status = client.result(&handle.id, None).await.unwrap();
        assert!(
            matches!(status.state, TaskState::Retrying | TaskState::Ready),
            "{status:?}"
        );
        assert_eq!(
            status.error.as_ref().map(|e| e.kind.as_str()),
            Some("IOError")
        );
    }
    let last = next_attempt(&client, "q").await;
    assert_eq!(last.attempt, 3);
    let state = client
        .ack_failure(&last, "IOError", "still on fire", false, None)
        .await
        .unwrap();
    assert_eq!(state, TaskState::Failed);
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.attempts, 3);
    assert_eq!(
        status.error.map(|e| e.message),
        Some("still on fire".into())
    );
    let stats = client.queue_stats(&["q"]).await.unwrap();
    assert_eq!(stats[0].dead, 1, "{stats:?}");
}

#[tokio::test]
async fn a_fatal_failure_goes_straight_to_the_dead_letters_and_replays() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("parse").queue("q").max_retries(5))
        .await
        .unwrap();
    let task = lease(&client, "q", 1).await.remove(0);
    let state = client
        .ack_failure(&task, "ValueError", "bad input", true, None)
        .await
        .unwrap();
    assert_eq!(state, TaskState::Failed);
    let (dead, _) = client
        .list_tasks("q", TaskState::Failed, 10, None)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, handle.id);
    assert_eq!(
        dead[0].error.as_ref().map(|e| e.message.as_str()),
        Some("bad input")
    );

    let replayed = client.replay_dead_letters("q", &[], None).await.unwrap();
    assert_eq!(replayed, std::slice::from_ref(&handle.id));
    let again = lease(&client, "q", 1).await.remove(0);
    assert_eq!(again.id, handle.id);
    assert_eq!(again.attempt, 2);
    assert_eq!(again.retries_left, 5, "a replay restores the retry budget");
    client
        .ack_success(&again, b"ok".to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(client.queue_stats(&["q"]).await.unwrap()[0].dead, 0);
}

#[tokio::test]
async fn a_retry_countdown_from_the_worker_overrides_the_backoff() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let task = lease(&client, "q", 1).await.remove(0);
    client
        .ack_failure(
            &task,
            "RateLimited",
            "slow down",
            false,
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Retrying);
    let due = status.due_at.expect("a retrying task has a due time");
    assert!(
        due > std::time::SystemTime::now() + Duration::from_secs(3000),
        "{due:?}"
    );
}

#[tokio::test]
async fn nack_requeue_gives_the_task_back_and_reject_dead_letters_it() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let first = lease(&client, "q", 1).await.remove(0);
    assert_eq!(
        client.nack_requeue(&first, Duration::ZERO).await.unwrap(),
        TaskState::Ready
    );
    let second = lease(&client, "q", 1).await.remove(0);
    assert_eq!(second.attempt, 2);
    assert_eq!(
        second.retries_left, first.retries_left,
        "a requeue uses no retry"
    );
    assert_eq!(
        client.nack_reject(&second, "poison message").await.unwrap(),
        TaskState::Failed
    );
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(
        status.error.map(|e| e.message),
        Some("poison message".into())
    );
}

#[tokio::test]
async fn a_nack_can_requeue_until_a_given_time() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let first = lease(&client, "q", 1).await.remove(0);
    let at = std::time::UNIX_EPOCH
        + Duration::from_millis(
            u64::try_from(
                (std::time::SystemTime::now() + Duration::from_secs(3600))
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )
            .unwrap(),
        );
    assert_eq!(
        client.nack_requeue_at(&first, at).await.unwrap(),
        TaskState::Scheduled
    );
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.due_at, Some(at), "due exactly when asked");
    let past = lease(&client, "q", 1).await;
    assert!(past.is_empty(), "it waits in the broker: {past:?}");
}

/// A unique key stays unique across a replay: a dead letter whose key a live task took since is
/// not replayed (it stays a dead letter); once the key is free again, it is (issue 11, A7).
#[tokio::test]
async fn a_replay_never_gives_two_live_tasks_the_same_unique_key() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let first = client
        .enqueue(Task::new("report").queue("q").unique_key("daily"))
        .await
        .unwrap();
    let task = lease(&client, "q", 1).await.remove(0);
    client
        .ack_failure(&task, "Error", "first run failed", true, None)
        .await
        .unwrap();
    let second = client
        .enqueue(Task::new("report").queue("q").unique_key("daily"))
        .await
        .unwrap();
    assert!(second.created, "the failed task freed the key");

    let replayed = client.replay_dead_letters("q", &[], None).await.unwrap();
    assert!(
        replayed.is_empty(),
        "the live task holds the key, so the dead letter stays: {replayed:?}"
    );
    let first_state = client.result(&first.id, None).await.unwrap().state;
    assert_eq!(first_state, TaskState::Failed, "still a dead letter");

    let task = lease(&client, "q", 1).await.remove(0);
    assert_eq!(task.id, second.id, "only the live task is leased");
    client
        .ack_success(&task, b"ok".to_vec(), "text/plain")
        .await
        .unwrap();
    let replayed = client.replay_dead_letters("q", &[], None).await.unwrap();
    assert_eq!(
        replayed,
        std::slice::from_ref(&first.id),
        "the key is free again"
    );
}
