//! `explain` gives the reason that holds a task in every blocked case (issue 13): its ETA, a
//! retry backoff, a rate limit, a full concurrency cap, a paused queue, no live worker for its
//! queue, no live worker with a handler for its name, a worker's prefetch buffer; and says
//! where a running task runs and how a finished one ended.

use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Client, Explanation, LeaseOptions, Limit, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;
use tokio::sync::Semaphore;

use crate::support::{spawn, SOON};

const HOUR: Duration = Duration::from_secs(3600);

fn codes(explained: &Explanation) -> Vec<&str> {
    explained.reasons.iter().map(|r| r.code.as_str()).collect()
}

async fn lease(client: &Client, queue: &str, max: u32) -> Vec<stalk_client::LeasedTask> {
    client
        .lease(LeaseOptions {
            max_tasks: max,
            ..LeaseOptions::new([queue])
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_waiting_task_names_its_eta_its_backoff_and_that_no_worker_takes_its_queue() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("later").id("eta").countdown(HOUR))
        .await
        .unwrap();
    let explained = client.explain("eta").await.unwrap();
    assert_eq!(explained.state, TaskState::Scheduled);
    assert_eq!(codes(&explained), ["eta", "no_worker_for_queue"]);
    assert!(explained.reasons[0].until.is_some());

    client
        .enqueue(Task::new("t").queue("flaky").id("retry").max_retries(3))
        .await
        .unwrap();
    let leased = lease(&client, "flaky", 1).await;
    client
        .ack_failure(&leased[0], "Boom", "it broke", false, Some(HOUR))
        .await
        .unwrap();
    let explained = client.explain("retry").await.unwrap();
    assert_eq!(explained.state, TaskState::Retrying);
    assert_eq!(codes(&explained), ["backoff", "no_worker_for_queue"]);
    assert!(
        explained.reasons[0].message.contains("Boom: it broke"),
        "{explained:?}"
    );

    let err = client.explain("nobody").await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::NotFound), "{err}");
}

#[tokio::test]
async fn a_ready_task_names_the_limit_or_the_pause_that_holds_it() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .set_limit(&Limit::task("rated").rate("1/h").burst(1))
        .await
        .unwrap();
    client
        .set_limit(&Limit::queue("capped").max_concurrency(1))
        .await
        .unwrap();
    for id in ["r1", "r2"] {
        client
            .enqueue(Task::new("rated").queue("rq").id(id))
            .await
            .unwrap();
    }
    for id in ["c1", "c2"] {
        client
            .enqueue(Task::new("t").queue("capped").id(id))
            .await
            .unwrap();
    }
    // The first of each goes; the lease that tries the second parks it behind its limit.
    assert_eq!(lease(&client, "rq", 2).await.len(), 1);
    assert_eq!(lease(&client, "capped", 2).await.len(), 1);

    let rated = client.explain("r2").await.unwrap();
    assert_eq!(codes(&rated), ["rate_limit", "no_worker_for_queue"]);
    assert_eq!(
        rated.reasons[0].limit.as_deref(),
        Some("rate limit task:rated")
    );
    assert!(rated.reasons[0].until.is_some(), "{rated:?}");
    let capped = client.explain("c2").await.unwrap();
    assert_eq!(codes(&capped), ["concurrency_cap", "no_worker_for_queue"]);
    assert!(
        capped.reasons[0].message.contains("1 of 1 running"),
        "{capped:?}"
    );
    let running = client.explain("c1").await.unwrap();
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(codes(&running), ["running"]);

    client.pause_queue("rq").await.unwrap();
    let paused = client.explain("r2").await.unwrap();
    assert_eq!(codes(&paused)[0], "queue_paused", "{paused:?}");
}

#[tokio::test]
async fn workers_say_which_holds_a_task_and_whether_any_can_run_it() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let permits = Arc::new(Semaphore::new(0));
    let gate = permits.clone();
    let worker = spawn(&broker, move |w| {
        w.worker_id("w-explain")
            .concurrency(1)
            .prefetch(2)
            .lease_duration(Duration::from_secs(600))
            .task("gate", move |(): ()| {
                let gate = gate.clone();
                async move {
                    gate.acquire().await.expect("open").forget();
                    Ok::<_, TaskError>(())
                }
            })
    })
    .await;
    for id in ["first", "second"] {
        client
            .enqueue(Task::new("gate").id(id).json(&()).unwrap())
            .await
            .unwrap();
    }
    let pushed = wait_until(
        SOON,
        || async { client.explain("second").await.unwrap() },
        |e| codes(e) == ["prefetched"],
    )
    .await
    .expect("the second waits in the worker's buffer");
    assert_eq!(pushed.state, TaskState::Leased);
    assert_eq!(pushed.reasons[0].worker.as_deref(), Some("w-explain"));
    let running = client.explain("first").await.unwrap();
    assert_eq!(codes(&running), ["running"]);
    assert_eq!(running.reasons[0].worker.as_deref(), Some("w-explain"));

    // A name the worker has no handler for, held by its ETA so the worker does not reject it.
    client
        .enqueue(Task::new("unknown").id("orphan").countdown(HOUR))
        .await
        .unwrap();
    let orphan = client.explain("orphan").await.unwrap();
    assert_eq!(codes(&orphan), ["eta", "no_handler"]);

    permits.add_permits(2);
    for id in ["first", "second"] {
        client.wait_for(id, SOON).await.unwrap();
    }
    let done = client.explain("first").await.unwrap();
    assert_eq!(
        (done.state, codes(&done)),
        (TaskState::Succeeded, vec!["succeeded"])
    );
    client.revoke(&["orphan"]).await.unwrap();
    assert_eq!(codes(&client.explain("orphan").await.unwrap()), ["revoked"]);
    worker.stop().await.unwrap();
}
