//! Priority aging through the broker: a low-priority task that waits long enough is leased ahead
//! of a steady stream of newer high-priority tasks; without aging the stream starves it.

use std::time::Duration;

use stalk_client::{Client, LeaseOptions, Task};
use stalk_testkit::TestBroker;

/// Enqueues `low`, then up to `rounds` times enqueues a fresh priority-9 task and leases one;
/// returns the round in which `low` was leased.
async fn round_low_is_leased(client: &Client, rounds: usize) -> Option<usize> {
    client
        .enqueue(Task::new("t").queue("q").id("low"))
        .await
        .unwrap();
    for round in 1..=rounds {
        client
            .enqueue(Task::new("t").queue("q").priority(9))
            .await
            .unwrap();
        let leased = client.lease(LeaseOptions::new(["q"])).await.unwrap();
        if leased.iter().any(|t| t.id == "low") {
            return Some(round);
        }
    }
    None
}

#[tokio::test]
async fn a_waiting_low_priority_task_ages_past_a_stream_of_high_ones() {
    let broker = TestBroker::start_with(|c| c.priority_aging = Duration::from_millis(20)).await;
    let client = broker.client().await;
    // It ties a fresh priority 9 after 9 × 20 ms; each round takes well under that, and the
    // bound is only for a broken broker.
    let round = round_low_is_leased(&client, 100_000).await;
    assert!(
        round.is_some_and(|r| r > 1),
        "the low task was leased after some high ones: {round:?}"
    );
}

#[tokio::test]
async fn without_aging_strict_priority_starves_the_low_task() {
    let broker = TestBroker::start_with(|c| c.priority_aging = Duration::ZERO).await;
    let client = broker.client().await;
    assert_eq!(round_low_is_leased(&client, 200).await, None);
}
