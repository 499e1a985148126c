//! `add_consumer` and `cancel_consumer`: a running worker starts and stops taking tasks from a
//! queue without restarting, keeps the change across a reconnect, and still runs the tasks of
//! a cancelled queue that it already holds.

use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Client, Task, TaskState, WorkerCommand};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;
use tokio::sync::Semaphore;

use crate::control::{ask, connected, refused};
use crate::support::{spawn, SOON};

fn echo(w: stalk_worker::WorkerBuilder) -> stalk_worker::WorkerBuilder {
    w.task(
        "echo",
        |word: String| async move { Ok::<_, TaskError>(word) },
    )
}

/// The queues the one connected worker consumes, as the broker lists them.
async fn listed_queues(client: &Client) -> Vec<String> {
    let workers = client.list_workers().await.unwrap();
    workers
        .first()
        .map(|w| w.queues.clone())
        .unwrap_or_default()
}

/// Waits until the broker explains that no live worker consumes the queue of task `id`, while
/// a worker is connected: the task stays READY because of the queue, not for want of a worker.
async fn waits_for_a_consumer(client: &Client, id: &str) {
    let explained = wait_until(
        SOON,
        || async {
            let workers = client.list_workers().await.unwrap().len();
            let why = client.explain(id).await.unwrap();
            let codes: Vec<String> = why.reasons.iter().map(|r| r.code.clone()).collect();
            (workers, why.state, codes)
        },
        |(workers, state, codes)| {
            *workers == 1
                && *state == TaskState::Ready
                && codes.iter().any(|c| c == "no_worker_for_queue")
        },
    )
    .await;
    assert!(
        explained.is_ok(),
        "{id} waits for a consumer: {explained:?}"
    );
}

#[tokio::test]
async fn add_consumer_makes_the_worker_run_tasks_of_a_queue_it_did_not_consume() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| echo(w).queues(["a"])).await;
    connected(&broker).await;
    let client = broker.client().await;
    let task = Task::new("echo").queue("b").json(&"hi").unwrap();
    let handle = client.enqueue(task).await.unwrap();
    waits_for_a_consumer(&client, &handle.id).await;

    let reply = ask(&client, WorkerCommand::AddConsumer("b".into())).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.message, "consuming from b");
    assert_eq!(reply.details["queues"], "a,b");
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    assert_eq!(listed_queues(&client).await, ["a", "b"]);

    let again = ask(&client, WorkerCommand::AddConsumer("b".into())).await;
    assert!(
        again.ok,
        "adding a queue it consumes changes nothing: {again:?}"
    );
    assert_eq!(again.message, "already consuming from b");
    let message = refused(&client, WorkerCommand::AddConsumer(String::new())).await;
    assert!(
        message.contains("add_consumer.queue: must not be empty"),
        "{message}"
    );
    let message = refused(&client, WorkerCommand::AddConsumer("a b".into())).await;
    assert!(message.contains("contains ' '"), "{message}");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn cancel_consumer_stops_new_tasks_of_that_queue_even_after_a_reconnect() {
    let mut broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| echo(w).queues(["a", "b"])).await;
    connected(&broker).await;
    let client = broker.client().await;

    let reply = ask(&client, WorkerCommand::CancelConsumer("b".into())).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.details["queues"], "a");
    let held = client
        .enqueue(Task::new("echo").queue("b").json(&"held").unwrap())
        .await
        .unwrap();
    waits_for_a_consumer(&client, &held.id).await;
    let other = client
        .enqueue(Task::new("echo").queue("a").json(&"runs").unwrap())
        .await
        .unwrap();
    let status = other.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded, "queue a still runs");

    let last = ask(&client, WorkerCommand::CancelConsumer("a".into())).await;
    assert!(!last.ok, "{last:?}");
    assert_eq!(
        last.message,
        "a is the only queue this worker consumes; add another before cancelling it"
    );
    let unknown = ask(&client, WorkerCommand::CancelConsumer("zzz".into())).await;
    assert!(!unknown.ok, "{unknown:?}");
    assert_eq!(unknown.message, "not consuming from zzz");

    // The worker's hello after a reconnect names the set as the commands left it.
    broker.restart().await;
    let client = broker.client().await;
    let relisted = wait_until(SOON, || listed_queues(&client), |q| !q.is_empty()).await;
    assert_eq!(relisted, Ok(vec!["a".to_string()]), "after the reconnect");
    waits_for_a_consumer(&client, &held.id).await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_cancelled_queues_prefetched_task_still_runs_in_the_worker() {
    let broker = TestBroker::start().await;
    let gate = Arc::new(Semaphore::new(0));
    let gate_h = gate.clone();
    let worker = spawn(&broker, move |w| {
        echo(w)
            .queues(["a", "b"])
            .concurrency(1)
            .prefetch(2)
            .prefetch_lease(Duration::from_secs(60))
            .task("gate", move |(): ()| {
                let gate = gate_h.clone();
                async move {
                    gate.acquire().await.unwrap().forget();
                    Ok::<_, TaskError>(())
                }
            })
    })
    .await;
    connected(&broker).await;
    let client = broker.client().await;
    let blocker = client
        .enqueue(Task::new("gate").queue("a").json(&()).unwrap())
        .await
        .unwrap();
    let waiting = client
        .enqueue(Task::new("echo").queue("b").json(&"prefetched").unwrap())
        .await
        .unwrap();
    let prefetched = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| w.len() == 1 && w[0].running.len() == 1 && w[0].prefetched.len() == 1,
    )
    .await;
    assert!(
        prefetched.is_ok(),
        "one runs, one waits in the buffer: {prefetched:?}"
    );

    let reply = ask(&client, WorkerCommand::CancelConsumer("b".into())).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(
        reply.message,
        "no longer consuming from b; tasks of it already here still run"
    );
    gate.add_permits(1);
    let status = blocker.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    let status = waiting.wait(&client, SOON).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Succeeded,
        "the prefetched task of the cancelled queue ran here: {status:?}"
    );
    assert_eq!(status.json::<String>().unwrap(), "prefetched");
    worker.stop().await.unwrap();
}
