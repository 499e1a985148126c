//! A refused ack (issue 12, §4): the broker's answer names the ack, and the worker counts the
//! refusal (seen in its `ping` details) instead of taking the task as done.
//!
//! The refusal is made deterministic by replacing the lease keeper with a step that does
//! nothing: the running task's short lease then runs out in the broker, the test takes the
//! task's next attempt itself, and only then lets the worker's handler finish.

use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Client, LeaseOptions, LeasedTask, Task, TaskState, WorkerCommand};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{Step, StepContext, StepError, TaskError, LEASE_KEEPER, SESSION};
use tokio::sync::{mpsc, Notify};

use crate::support::{spawn, SOON};

/// The running task's lease, which nothing extends here.
const LEASE: Duration = Duration::from_millis(300);

/// A lease keeper that keeps nothing, replacing the built-in.
struct NoLeaseKeeper;

#[stalk_worker::async_trait]
impl Step for NoLeaseKeeper {
    fn name(&self) -> &str {
        LEASE_KEEPER
    }

    fn requires(&self) -> Vec<String> {
        vec![SESSION.into()]
    }

    async fn start(&mut self, _ctx: &mut StepContext) -> Result<(), StepError> {
        Ok(())
    }
}

/// Leases the task for the test once the broker has taken it back from the worker.
async fn take_over(client: &Client) -> LeasedTask {
    let leased = wait_until(
        SOON,
        || async {
            client
                .lease(LeaseOptions {
                    wait: Duration::from_millis(500),
                    ..LeaseOptions::new(["q"])
                })
                .await
                .unwrap()
        },
        |leased| !leased.is_empty(),
    )
    .await;
    leased.expect("the worker's lease runs out").remove(0)
}

/// The worker's count of refused acks, from its answer to a ping.
async fn acks_refused(client: &Client) -> Option<String> {
    let replies = client
        .control_workers(&[], WorkerCommand::Ping, SOON)
        .await
        .unwrap();
    replies.first()?.details.get("acks_refused").cloned()
}

#[tokio::test]
async fn an_ack_refused_for_a_lost_lease_is_counted_and_changes_nothing() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let finish = Arc::new(Notify::new());
    let gate = finish.clone();
    let worker = spawn(&broker, move |w| {
        w.queues(["q"])
            .concurrency(1)
            .prefetch(0)
            .lease_duration(LEASE)
            .step(NoLeaseKeeper)
            .task("held", move |(): ()| {
                let (started_tx, gate) = (started_tx.clone(), gate.clone());
                async move {
                    let _ = started_tx.send(());
                    gate.notified().await;
                    Ok::<_, TaskError>("from the worker")
                }
            })
    })
    .await;
    let handle = client
        .enqueue(Task::new("held").queue("q").json(&()).unwrap())
        .await
        .unwrap();
    tokio::time::timeout(SOON, started.recv())
        .await
        .expect("the worker starts the task");

    // The worker's lease runs out; the next attempt is the test's.
    let mine = take_over(&client).await;
    assert_eq!(mine.id, handle.id);
    assert_eq!(mine.attempt, 2);
    finish.notify_one();

    let counted = wait_until(
        SOON,
        || acks_refused(&client),
        |count| count.as_deref() == Some("1"),
    )
    .await;
    assert!(
        counted.is_ok(),
        "the worker counts the refused ack: {counted:?}"
    );
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Running,
        "the refused ack completed nothing: {status:?}"
    );

    let value = br#""from the test""#;
    client
        .ack_success(&mine, value.to_vec(), "application/json")
        .await
        .expect("the test's lease is the current one");
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    let result = status.result.expect("a result");
    assert_eq!(&result.value[..], &value[..], "the test's result stands");
    worker.stop().await.unwrap();
}
