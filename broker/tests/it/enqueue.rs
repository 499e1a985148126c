//! Enqueue: priorities, FIFO, batches, idempotent ids and unique keys.

use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;

use crate::support::{ids, lease};

#[tokio::test]
async fn tasks_lease_by_priority_then_fifo() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for (id, priority) in [
        ("low-1", 0),
        ("high-1", 9),
        ("mid", 4),
        ("low-2", 0),
        ("high-2", 9),
    ] {
        client
            .enqueue(Task::new("t").queue("q").id(id).priority(priority))
            .await
            .expect("enqueue");
    }
    let leased = lease(&client, "q", 10).await;
    assert_eq!(ids(&leased), ["high-1", "high-2", "mid", "low-1", "low-2"]);
}

#[tokio::test]
async fn queues_are_tried_in_the_order_given() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("bulk").id("b1"))
        .await
        .unwrap();
    client
        .enqueue(Task::new("t").queue("urgent").id("u1"))
        .await
        .unwrap();
    let leased = client
        .lease(stalk_client::LeaseOptions {
            max_tasks: 2,
            ..stalk_client::LeaseOptions::new(["urgent", "bulk"])
        })
        .await
        .unwrap();
    assert_eq!(ids(&leased), ["u1", "b1"]);
}

#[tokio::test]
async fn the_payload_headers_and_options_reach_the_worker() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client
        .enqueue(
            Task::new("email.send")
                .queue("mail")
                .json(&serde_json::json!({"to": "a@b.c"}))
                .unwrap()
                .header("tenant", "acme")
                .max_retries(7),
        )
        .await
        .unwrap();
    assert!(handle.created);
    assert_eq!(handle.state, TaskState::Ready);
    let task = lease(&client, "mail", 1).await.remove(0);
    assert_eq!(task.id, handle.id);
    assert_eq!(task.name, "email.send");
    assert_eq!(task.json::<serde_json::Value>().unwrap()["to"], "a@b.c");
    assert_eq!(task.content_type, "application/json");
    assert_eq!(task.headers.get("tenant").map(String::as_str), Some("acme"));
    assert_eq!(task.attempt, 1);
    assert_eq!(task.retries_left, 7);
}

#[tokio::test]
async fn enqueueing_the_same_id_twice_returns_the_first_task() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let first = client.enqueue(Task::new("t").id("order-42")).await.unwrap();
    let second = client.enqueue(Task::new("t").id("order-42")).await.unwrap();
    assert!(
        first.created && !second.created,
        "{first:?} then {second:?}"
    );
    assert_eq!(second.id, "order-42");
    assert_eq!(
        lease(&client, "default", 10).await.len(),
        1,
        "no duplicate was queued"
    );
}

#[tokio::test]
async fn a_unique_key_allows_one_live_task_at_a_time() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let first = client
        .enqueue(Task::new("report").unique_key("daily"))
        .await
        .unwrap();
    let dup = client
        .enqueue(Task::new("report").unique_key("daily"))
        .await
        .unwrap();
    assert!(!dup.created);
    assert_eq!(dup.id, first.id, "the live task is returned");
    let task = lease(&client, "default", 1).await.remove(0);
    client.ack_success(&task, Vec::new(), "").await.unwrap();
    let next = client
        .enqueue(Task::new("report").unique_key("daily"))
        .await
        .unwrap();
    assert!(next.created, "the key is free once the first finished");
}

#[tokio::test]
async fn a_batch_reports_each_task_and_stores_the_valid_ones() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let outcomes = client
        .enqueue_many(vec![
            Task::new("ok").id("a"),
            Task::new("bad name"),
            Task::new("ok").id("b").priority(12),
            Task::new("ok").id("c"),
        ])
        .await
        .expect("the batch call itself succeeds");
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes[0].is_ok() && outcomes[3].is_ok());
    let name_err = outcomes[1].as_ref().unwrap_err().to_string();
    assert!(name_err.contains("tasks[1].name"), "{name_err}");
    let prio_err = outcomes[2].as_ref().unwrap_err().to_string();
    assert!(prio_err.contains("tasks[2].priority"), "{prio_err}");
    assert_eq!(ids(&lease(&client, "default", 10).await), ["a", "c"]);
}
