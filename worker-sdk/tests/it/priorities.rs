//! Priority holds through the worker's prefetch buffer: the tasks a worker holds start in the
//! broker's order, not in the order they were pushed (issue 11).

use std::sync::Arc;

use parking_lot::Mutex;
use stalk_client::{Client, Task};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;
use tokio::sync::Semaphore;

use crate::support::{spawn, SOON};

/// The ids of the tasks the worker holds: (running, prefetched).
async fn held(client: &Client) -> (Vec<String>, Vec<String>) {
    let workers = client.list_workers().await.unwrap();
    let ids = |tasks: &[(String, u64)]| tasks.iter().map(|(id, _)| id.clone()).collect();
    workers
        .first()
        .map(|w| (ids(&w.running), ids(&w.prefetched)))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_high_priority_task_pushed_behind_prefetched_low_ones_starts_first() {
    let broker = TestBroker::start().await;
    let started = Arc::new(Mutex::new(Vec::<String>::new()));
    // Each task waits for a permit the test hands out, so the test decides when slots free.
    let permits = Arc::new(Semaphore::new(0));
    let (log, gate) = (started.clone(), permits.clone());
    let worker = spawn(&broker, move |w| {
        w.concurrency(1)
            .prefetch(3)
            .task("step", move |label: String| {
                let (log, gate) = (log.clone(), gate.clone());
                async move {
                    log.lock().push(label);
                    gate.acquire().await.expect("open").forget();
                    Ok::<_, TaskError>(())
                }
            })
    })
    .await;
    let client = broker.client().await;
    let step = |label: &str, priority: u8| {
        Task::new("step")
            .id(label)
            .priority(priority)
            .json(&label)
            .unwrap()
    };
    client.enqueue(step("block", 0)).await.unwrap();
    let running = wait_until(SOON, || held(&client), |(r, _)| r.len() == 1).await;
    assert!(running.is_ok(), "the first task runs: {running:?}");
    for label in ["low-1", "low-2", "low-3"] {
        client.enqueue(step(label, 0)).await.unwrap();
    }
    let full = wait_until(SOON, || held(&client), |(_, p)| p.len() == 3).await;
    assert!(full.is_ok(), "three low tasks wait in the buffer: {full:?}");
    // No credit is left: the urgent task waits in the broker until a slot frees.
    client.enqueue(step("urgent", 9)).await.unwrap();
    permits.add_permits(1);
    let pushed = wait_until(
        SOON,
        || held(&client),
        |(_, p)| p.iter().any(|id| id == "urgent"),
    )
    .await;
    assert!(
        pushed.is_ok(),
        "the freed credit brings the urgent task: {pushed:?}"
    );
    permits.add_permits(4);
    let all = wait_until(SOON, || async { started.lock().clone() }, |s| s.len() == 5).await;
    assert_eq!(
        all.as_deref().map_err(|s| s.clone()),
        Ok(&["block", "low-1", "urgent", "low-2", "low-3"].map(String::from)[..]),
        "the urgent task starts as soon as it is in the worker, ahead of the low ones pushed before it"
    );
    worker.stop().await.unwrap();
}
