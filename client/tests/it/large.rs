//! Large messages: a lease or a result bigger than tonic's 4 MiB default arrives whole (the
//! broker's own limit bounds what it sends; the client must not refuse it below that).

use stalk_client::{LeaseOptions, Task};
use stalk_testkit::TestBroker;

/// 64 KiB, the payload size the round-trip benchmark measures.
const PAYLOAD: usize = 64 << 10;

#[tokio::test]
async fn a_lease_of_many_large_tasks_arrives_in_one_call() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let tasks: Vec<Task> = (0..100u8)
        .map(|i| {
            Task::new("big")
                .queue("large")
                .payload(vec![i; PAYLOAD], "application/octet-stream")
        })
        .collect();
    client.enqueue_many(tasks).await.unwrap();
    let leased = client
        .lease(LeaseOptions {
            max_tasks: 100,
            ..LeaseOptions::new(["large"])
        })
        .await
        .expect("6.4 MiB of tasks in one lease answer");
    assert_eq!(leased.len(), 100, "every task in one call");
    for (i, task) in leased.iter().enumerate() {
        let byte = u8::try_from(i).unwrap();
        assert!(
            task.payload.len() == PAYLOAD && task.payload.iter().all(|&b| b == byte),
            "task {i}'s payload arrives intact"
        );
    }
}
