//! Recovery: a restart on the same data dir keeps ids, states, results, dead letters and unique
//! keys; tasks that were leased become ready again with attempt + 1.

use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;

use crate::support::{ids, lease};

#[tokio::test]
async fn a_restart_keeps_every_task_in_its_state() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    for id in ["done", "dead", "leased", "ready-1", "ready-2"] {
        client
            .enqueue(Task::new("t").queue("q").id(id).max_retries(0))
            .await
            .unwrap();
    }
    client
        .enqueue(
            Task::new("t")
                .queue("q")
                .id("later")
                .countdown(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    client
        .enqueue(Task::new("t").queue("q").id("keyed").unique_key("k"))
        .await
        .unwrap();
    let leased = lease(&client, "q", 3).await;
    assert_eq!(ids(&leased), ["done", "dead", "leased"]);
    client
        .ack_success(&leased[0], b"42".to_vec(), "application/json")
        .await
        .unwrap();
    client
        .ack_failure(&leased[1], "E", "boom", false, None)
        .await
        .unwrap();

    broker.restart().await;
    let client = broker.client().await;

    let done = client.result("done", None).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.json::<i32>().unwrap(), 42);
    assert_eq!(
        client.result("dead", None).await.unwrap().state,
        TaskState::Failed
    );
    assert_eq!(
        client.result("later", None).await.unwrap().state,
        TaskState::Scheduled
    );
    let stats = &client.queue_stats(&["q"]).await.unwrap()[0];
    assert_eq!(
        (stats.ready, stats.scheduled, stats.leased, stats.dead),
        (4, 1, 0, 1)
    );

    let dup = client
        .enqueue(Task::new("t").queue("q").unique_key("k"))
        .await
        .unwrap();
    assert_eq!(
        (dup.id.as_str(), dup.created),
        ("keyed", false),
        "unique keys survive"
    );
    let dup = client
        .enqueue(Task::new("t").queue("q").id("done"))
        .await
        .unwrap();
    assert!(!dup.created, "ids survive");

    let again = lease(&client, "q", 10).await;
    assert_eq!(
        ids(&again),
        ["leased", "ready-1", "ready-2", "keyed"],
        "the old order holds"
    );
    assert_eq!(again[0].attempt, 2, "the interrupted attempt counts");
    assert_eq!(again[1].attempt, 1);
}

#[tokio::test]
async fn the_fast_durability_mode_serves_and_recovers_after_a_graceful_restart() {
    let mut broker =
        TestBroker::start_with(|c| c.durability = stalk_broker::Durability::Fast).await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("kept"))
        .await
        .unwrap();
    let done = client
        .enqueue(Task::new("t").queue("q").id("done"))
        .await
        .unwrap();
    let task = lease(&client, "q", 2).await.remove(1);
    assert_eq!(task.id, done.id);
    client.ack_success(&task, Vec::new(), "").await.unwrap();
    broker.restart().await;
    let client = broker.client().await;
    assert_eq!(
        client.result("done", None).await.unwrap().state,
        TaskState::Succeeded
    );
    assert_eq!(
        ids(&lease(&client, "q", 10).await),
        ["kept"],
        "the leased task was released"
    );
}
