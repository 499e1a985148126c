//! A paused queue holds through a real worker's prefetch buffer (issue 13): tasks already pushed
//! to the worker do not start once their queue is paused; they wait, READY, and run after the
//! queue is resumed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;
use tokio::sync::Semaphore;

use crate::support::{spawn, SOON};

#[tokio::test]
async fn tasks_in_the_prefetch_buffer_of_a_paused_queue_wait_until_it_is_resumed() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let permits = Arc::new(Semaphore::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let (gate, counted) = (permits.clone(), ran.clone());
    let worker = spawn(&broker, move |w| {
        w.concurrency(1)
            .prefetch(3)
            .lease_duration(Duration::from_secs(600))
            .task("gate", move |(): ()| {
                let gate = gate.clone();
                async move {
                    gate.acquire().await.expect("open").forget();
                    Ok::<_, TaskError>(())
                }
            })
            .task("quick", move |(): ()| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, TaskError>(()) }
            })
    })
    .await;
    let gate = client
        .enqueue(Task::new("gate").id("gate").json(&()).unwrap())
        .await
        .unwrap();
    // The gate runs; the three behind it wait in the worker's buffer.
    let quick: Vec<String> = (0..3).map(|i| format!("quick-{i}")).collect();
    for id in &quick {
        client
            .enqueue(Task::new("quick").id(id.as_str()).json(&()).unwrap())
            .await
            .unwrap();
    }
    let pushed = wait_until(
        SOON,
        || async { client.queue_stats(&["default"]).await.unwrap()[0].leased },
        |n| *n == 4,
    )
    .await;
    assert_eq!(pushed, Ok(4), "the gate runs and three wait in the buffer");

    assert!(client.pause_queue("default").await.unwrap());
    permits.add_permits(1);
    let status = gate.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    // The buffered tasks are refused as they start, and wait again in the broker.
    let waiting = wait_until(
        SOON,
        || async { client.queue_stats(&["default"]).await.unwrap()[0].clone() },
        |s| s.ready == 3 && s.leased == 0,
    )
    .await
    .expect("the buffered tasks went back to wait");
    assert!(waiting.paused);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "nothing of a paused queue ran"
    );
    for id in &quick {
        let status = client.result(id, None).await.unwrap();
        assert_eq!(
            (status.state, status.attempts),
            (TaskState::Ready, 0),
            "a refused start is no attempt: {id}"
        );
    }

    assert!(client.resume_queue("default").await.unwrap());
    for id in &quick {
        let status = client.wait_for(id, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded, "{id}");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    worker.stop().await.unwrap();
}
