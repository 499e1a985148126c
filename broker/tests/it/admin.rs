//! Admin: queue stats, listings with paging, purge.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use stalk_broker::clock::ManualClock;
use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;

use crate::support::lease;

#[tokio::test]
async fn queue_stats_count_every_state() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for i in 0..4 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("r{i}")))
            .await
            .unwrap();
    }
    client
        .enqueue(
            Task::new("t")
                .queue("q")
                .countdown(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let leased = lease(&client, "q", 2).await;
    client
        .ack_failure(&leased[0], "E", "boom", true, None)
        .await
        .unwrap();
    let stats = client.queue_stats(&[]).await.unwrap();
    assert_eq!(stats.len(), 1, "{stats:?}");
    let q = &stats[0];
    assert_eq!(
        (
            q.queue.as_str(),
            q.ready,
            q.scheduled,
            q.leased,
            q.retrying,
            q.dead
        ),
        ("q", 2, 1, 1, 0, 1)
    );
}

#[tokio::test]
async fn queue_stats_say_since_when_the_longest_waiting_ready_task_waits() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let broker = TestBroker::start_with_clock(clock.clone(), |_| {}).await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("first"))
        .await
        .unwrap();
    clock.advance(5_000);
    client
        .enqueue(Task::new("t").queue("q").id("second"))
        .await
        .unwrap();
    client
        .enqueue(
            Task::new("t")
                .queue("later")
                .countdown(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let at = |ms: u64| Some(UNIX_EPOCH + Duration::from_millis(ms));
    let stats = client.queue_stats(&[]).await.unwrap();
    let oldest: Vec<_> = stats
        .iter()
        .map(|q| (q.queue.as_str(), q.oldest_ready_at))
        .collect();
    assert_eq!(oldest, [("later", None), ("q", at(1_000_000))]);

    // The oldest is leased: the next one in line counts.
    assert_eq!(lease(&client, "q", 1).await[0].id, "first");
    let stats = client.queue_stats(&["q"]).await.unwrap();
    assert_eq!(stats[0].oldest_ready_at, at(1_005_000));
}

#[tokio::test]
async fn listing_pages_through_a_queue_in_lease_order() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let mut expected = Vec::new();
    for i in 0..25 {
        let id = format!("t{i:02}");
        let priority = if i % 5 == 0 { 9 } else { 0 };
        client
            .enqueue(Task::new("t").queue("q").id(&id).priority(priority))
            .await
            .unwrap();
        expected.push((priority, id));
    }
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = client
            .list_tasks("q", TaskState::Ready, 7, token.as_deref())
            .await
            .unwrap();
        assert!(page.len() <= 7);
        seen.extend(page.into_iter().map(|t| t.id));
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected);
    let leased = lease(&client, "q", 1).await;
    assert_eq!(leased[0].id, seen[0], "the listing shows the lease order");
}

#[tokio::test]
async fn purge_deletes_waiting_tasks_and_leaves_leased_ones() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("running"))
        .await
        .unwrap();
    let running = lease(&client, "q", 1).await.remove(0);
    for i in 0..3 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("w{i}")))
            .await
            .unwrap();
    }
    assert_eq!(client.purge_queue("q", false).await.unwrap(), 3);
    assert!(lease(&client, "q", 10).await.is_empty());
    assert_eq!(
        client.result("w0", None).await.unwrap().state,
        TaskState::Unknown
    );
    client
        .ack_success(&running, Vec::new(), "")
        .await
        .expect("the leased task finishes");
}

#[tokio::test]
async fn a_paused_queue_leases_nothing_says_so_and_stays_paused_across_a_restart() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("waits"))
        .await
        .unwrap();
    assert!(client.pause_queue("q").await.unwrap());
    assert!(!client.pause_queue("q").await.unwrap(), "already paused");
    // A queue with nothing in it can be paused ahead of its tasks, and is listed.
    assert!(client.pause_queue("empty").await.unwrap());
    assert!(lease(&client, "q", 10).await.is_empty());

    broker.restart().await;
    let client = broker.client().await;
    assert!(lease(&client, "q", 10).await.is_empty(), "still paused");
    let stats = client.queue_stats(&[]).await.unwrap();
    let listed: Vec<(&str, u64, bool)> = stats
        .iter()
        .map(|s| (s.queue.as_str(), s.ready, s.paused))
        .collect();
    assert_eq!(listed, [("empty", 0, true), ("q", 1, true)]);

    assert!(client.resume_queue("q").await.unwrap());
    assert!(!client.resume_queue("q").await.unwrap(), "not paused");
    let leased = lease(&client, "q", 10).await;
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, "waits");

    let err = client.pause_queue("bad queue!").await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument), "{err}");
}
