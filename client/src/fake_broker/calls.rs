//! The client's calls against the fake broker, one behaviour per test.

use std::time::{Duration, Instant};

use super::{fake, serve, LEASE_ID};
use crate::{Client, ClientError, LeaseOptions, Task, TaskState};

#[tokio::test]
async fn every_call_carries_the_bearer_token() {
    let (fake, seen) = fake(1);
    let addr = serve(fake).await;
    let client = Client::builder(format!("http://{addr}"))
        .auth_token("s3cret")
        .connect()
        .await
        .expect("connect");
    client.enqueue(Task::new("a")).await.expect("enqueue");
    client.lease(LeaseOptions::default()).await.expect("lease");
    let seen = seen.lock().expect("not poisoned");
    assert_eq!(
        seen.authorization,
        [
            Some("Bearer s3cret".to_owned()),
            Some("Bearer s3cret".to_owned())
        ]
    );
}

#[tokio::test]
async fn enqueue_many_reports_each_task_on_its_own() {
    let (fake, _) = fake(1);
    let client = Client::connect(&serve(fake).await).await.expect("connect");
    let outcomes = client
        .enqueue_many(vec![
            Task::new("ok").id("mine"),
            Task::new("bad").id("refused-id"),
        ])
        .await
        .expect("the call succeeds");
    assert!(matches!(&outcomes[0], Ok(h) if h.id == "mine" && h.state == TaskState::Ready));
    let refused = outcomes[1].as_ref().expect_err("second task refused");
    assert!(
        matches!(refused, ClientError::Rejected { task_id: Some(id), .. } if id == "refused-id"),
        "{refused:?}"
    );
    let single = client.enqueue(Task::new("bad")).await.expect_err("refused");
    assert_eq!(single.code(), Some(tonic::Code::InvalidArgument));
}

#[tokio::test]
async fn wait_polls_until_the_task_is_terminal() {
    let (fake, seen) = fake(3);
    let client = Client::connect(&serve(fake).await).await.expect("connect");
    let handle = client.enqueue(Task::new("a")).await.expect("enqueue");
    let started = Instant::now();
    let status = handle
        .wait(&client, Duration::from_secs(120))
        .await
        .expect("finishes in time");
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(
        status.json::<serde_json::Value>().expect("JSON")["ok"],
        true
    );
    let waits = seen.lock().expect("not poisoned").result_waits_ms.clone();
    assert_eq!(waits.len(), 3, "three polls: {waits:?}");
    assert!(
        waits.iter().all(|&w| w <= 60_000),
        "each poll asks ≤ 60 s: {waits:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "early answers are paced, not busy-polled: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wait_gives_up_with_a_timeout_naming_the_last_state() {
    let (fake, _) = fake(usize::MAX);
    let client = Client::connect(&serve(fake).await).await.expect("connect");
    let err = client
        .wait_for("t-1", Duration::from_millis(250))
        .await
        .expect_err("never finishes");
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                state: TaskState::Leased,
                ..
            }
        ),
        "{err:?}"
    );
    let unknown = client.wait_for("unknown", Duration::from_secs(5)).await;
    assert!(
        matches!(unknown, Ok(s) if s.state == TaskState::Unknown),
        "unknown is not a wait"
    );
}

#[tokio::test]
async fn worker_calls_map_states_and_keep_the_fencing_code() {
    let (fake, _) = fake(1);
    let client = Client::connect(&serve(fake).await).await.expect("connect");
    let leased = client
        .lease(LeaseOptions::new(["mail"]))
        .await
        .expect("lease");
    let task = leased.first().expect("one task");
    assert_eq!(task.queue, "mail");
    let json = serde_json::json!({"sent": true});
    assert_eq!(
        client.ack_json(task, &json).await.expect("ack"),
        TaskState::Succeeded
    );
    let retry = client
        .ack_failure(task, "Boom", "x", false, Some(Duration::from_secs(1)))
        .await;
    assert_eq!(retry.expect("ack failure"), TaskState::Retrying);
    let nack = client.nack_requeue(task, Duration::from_secs(5)).await;
    assert_eq!(nack.expect("nack"), TaskState::Scheduled);
    assert_eq!(
        client.nack_reject(task, "bad").await.expect("reject"),
        TaskState::Failed
    );
    let deadline = client
        .extend_lease(task, Duration::from_secs(1))
        .await
        .expect("extend");
    assert_eq!(crate::wire::unix_ms(deadline), 1_700_000_001_000);
    let stale = client
        .ack_success(("t-1", LEASE_ID + 1), b"x".to_vec(), "text/plain")
        .await;
    let err = stale.expect_err("stale lease");
    assert_eq!(err.code(), Some(tonic::Code::FailedPrecondition), "{err}");
}

#[tokio::test]
async fn admin_calls_convert_their_answers() {
    let (fake, _) = fake(1);
    let client = Client::connect(&serve(fake).await).await.expect("connect");
    let stats = client.queue_stats(&[]).await.expect("stats");
    assert_eq!(
        (stats[0].queue.as_str(), stats[0].ready, stats[0].dead),
        ("default", 2, 1)
    );
    let (page, next) = client
        .list_tasks("q", TaskState::Failed, 10, None)
        .await
        .expect("first page");
    assert_eq!(
        (page[0].state, next.as_deref()),
        (TaskState::Failed, Some("p2"))
    );
    let (_, next) = client
        .list_tasks("q", TaskState::Failed, 10, Some("p2"))
        .await
        .expect("last page");
    assert_eq!(next, None, "an empty token ends the listing");
    assert_eq!(client.purge_queue("q", false).await.expect("purge"), 3);
    assert_eq!(
        client
            .replay_dead_letters("q", &[], None)
            .await
            .expect("replay"),
        ["d-1"]
    );
    let revoked = client.revoke(&["a", "unknown"]).await.expect("revoke");
    assert_eq!(
        revoked,
        [
            ("a".to_owned(), TaskState::Revoked),
            ("unknown".to_owned(), TaskState::Unknown)
        ]
    );
}
