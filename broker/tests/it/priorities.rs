//! Priority aging through the broker: a low-priority task that waits long enough is leased ahead
//! of a steady stream of newer high-priority tasks; without aging the stream starves it. A READY
//! listing shows that same aged order, page after page.

use std::sync::Arc;
use std::time::Duration;

use stalk_broker::clock::ManualClock;
use stalk_client::{Client, LeaseOptions, Task, TaskState};
use stalk_testkit::TestBroker;

use crate::support::lease;

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

/// Aging of one priority level per second, on a clock the test moves.
const AGING: Duration = Duration::from_secs(1);

async fn aging_broker() -> (TestBroker, ManualClock) {
    let clock = ManualClock::new(1_000_000);
    let broker =
        TestBroker::start_with_clock(Arc::new(clock.clone()), |c| c.priority_aging = AGING).await;
    (broker, clock)
}

/// Enqueues `(id, priority)` tasks at the clock's time.
async fn enqueue_all(client: &Client, tasks: &[(&str, u8)]) {
    for &(id, priority) in tasks {
        client
            .enqueue(Task::new("t").queue("q").id(id).priority(priority))
            .await
            .unwrap();
    }
}

/// Every READY task of `q`, read `page_size` at a time; `between` runs before each later page.
async fn list_ready(client: &Client, page_size: u32, mut between: impl FnMut()) -> Vec<String> {
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = client
            .list_tasks("q", TaskState::Ready, page_size, token.as_deref())
            .await
            .unwrap();
        assert!(page.len() <= page_size as usize, "{page:?}");
        seen.extend(page.into_iter().map(|t| t.id));
        match next {
            Some(next) => token = Some(next),
            None => return seen,
        }
        between();
    }
}

#[tokio::test]
async fn with_aging_the_ready_listing_is_the_order_leases_hand_tasks_out() {
    let (broker, clock) = aging_broker().await;
    let client = broker.client().await;
    enqueue_all(&client, &[("old-0a", 0), ("old-0b", 0)]).await;
    clock.advance(2_000);
    enqueue_all(&client, &[("mid-1", 1), ("mid-0", 0)]).await;
    clock.advance(1_000);
    enqueue_all(&client, &[("new-2a", 2), ("new-2b", 2), ("new-5", 5)]).await;
    clock.advance(1_000);
    // Now the old tasks count as 0 + 4, mid-1 as 1 + 2, the new priority-2 ones as 2 + 1 and
    // new-5 as 5 + 1; equal ones go oldest first, and mid-0 (0 + 2) waits behind the old tasks
    // of its lane.
    let listed = list_ready(&client, 2, || {}).await;
    assert_eq!(
        listed,
        ["new-5", "old-0a", "old-0b", "mid-1", "new-2a", "new-2b", "mid-0"]
    );
    let mut leased = Vec::new();
    while let Some(task) = lease(&client, "q", 1).await.pop() {
        leased.push(task.id);
    }
    assert_eq!(leased, listed, "the listing is the lease order");
}

#[tokio::test]
async fn the_pages_of_one_listing_keep_its_order_while_time_moves() {
    let (broker, clock) = aging_broker().await;
    let client = broker.client().await;
    enqueue_all(&client, &[("a0", 0), ("a1", 0)]).await;
    clock.advance(500);
    enqueue_all(&client, &[("b0", 1), ("b1", 1)]).await;
    clock.advance(500);
    // Both count as 1 now (the b's have not waited a whole second), so the older a's go first;
    // half a second later the b's count as 2 and go first.
    let at_once = list_ready(&client, 100, || {}).await;
    assert_eq!(at_once, ["a0", "a1", "b0", "b1"]);
    let paged = list_ready(&client, 1, || clock.advance(500)).await;
    assert_eq!(
        paged, at_once,
        "later pages continue the first page's order"
    );
    let fresh = list_ready(&client, 100, || {}).await;
    assert_eq!(
        fresh,
        ["b0", "b1", "a0", "a1"],
        "a new listing orders at its own time"
    );
}
