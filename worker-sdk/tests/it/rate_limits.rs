//! Rate limits through the broker and three workers at once: a task name's limit holds across
//! all of them (starts counted per window, with tolerance), tasks of other names go past the
//! held-back ones, a held task's listing says which limit holds it until when, and a change at
//! runtime takes effect without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use stalk_client::{Limit, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskError, WorkerBuilder};

use crate::support::{spawn, SOON};

/// When each `limited` task started, across the workers.
type Starts = Arc<Mutex<Vec<Instant>>>;

fn worker(id: &str, starts: &Starts) -> impl FnOnce(WorkerBuilder) -> WorkerBuilder {
    let (id, starts) = (id.to_string(), starts.clone());
    move |w: WorkerBuilder| {
        w.worker_id(id)
            .task("limited", move |(): ()| {
                let starts = starts.clone();
                async move {
                    starts.lock().push(Instant::now());
                    Ok::<_, TaskError>(())
                }
            })
            .task("free", |(): ()| async move { Ok::<_, TaskError>(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_holds_across_three_workers_without_holding_back_other_tasks() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .set_limit(&Limit::task("limited").rate("10/s").burst(1))
        .await
        .unwrap();
    let starts = Starts::default();
    let mut workers = Vec::new();
    for id in ["w1", "w2", "w3"] {
        workers.push(spawn(&broker, worker(id, &starts)).await);
    }
    let limited: Vec<Task> = (0..30)
        .map(|_| Task::new("limited").json(&()).unwrap())
        .collect();
    let handles = client.enqueue_many(limited).await.unwrap();
    let free = client
        .enqueue(Task::new("free").json(&()).unwrap())
        .await
        .unwrap();
    let free_done = free.wait(&client, SOON).await.unwrap();
    assert_eq!(free_done.state, TaskState::Succeeded);
    assert!(
        starts.lock().len() < 30,
        "the free task did not wait for the limited ones behind the limit"
    );
    for handle in handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    let mut starts = starts.lock().clone();
    starts.sort();
    // 30 tasks at 10/s with a burst of 1 take at least 2.9 s, whatever the workers do.
    let span = starts[29] - starts[0];
    assert!(
        span >= Duration::from_millis(2_800),
        "30 starts in {span:?}"
    );
    // No window of one second holds more than the rate plus the burst (+1 for edges).
    for (i, first) in starts.iter().enumerate() {
        let within = starts[i..]
            .iter()
            .take_while(|t| **t - *first < Duration::from_secs(1))
            .count();
        assert!(within <= 12, "{within} starts within 1 s from start {i}");
    }
    for worker in workers {
        worker.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_changed_at_runtime_takes_effect_at_once() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .set_limit(&Limit::task("limited").rate("1/h").burst(1))
        .await
        .unwrap();
    let starts = Starts::default();
    let worker = spawn(&broker, worker("w1", &starts)).await;
    let handles = client
        .enqueue_many(vec![
            Task::new("limited").json(&()).unwrap(),
            Task::new("limited").json(&()).unwrap(),
        ])
        .await
        .unwrap();
    let mut handles = handles.into_iter().map(Result::unwrap);
    let first = handles.next().unwrap();
    assert_eq!(
        first.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    let second = handles.next().unwrap();
    let held = client.result(&second.id, None).await.unwrap();
    assert_eq!(held.state, TaskState::Ready, "the hour's one token is used");
    // Its listing says which limit holds it and until when.
    let listed = wait_until(
        SOON,
        || async {
            client
                .list_tasks("default", TaskState::Ready, 10, None)
                .await
                .unwrap()
                .0
        },
        |tasks| tasks.iter().any(|t| t.waiting_for.is_some()),
    )
    .await
    .expect("the held task shows why it waits");
    assert_eq!(
        listed[0].waiting_for.as_deref(),
        Some("rate limit task:limited")
    );
    let until = listed[0].waiting_until.expect("until when");
    assert!(
        until > std::time::SystemTime::now() + Duration::from_secs(3000),
        "the next token is about an hour away: {until:?}"
    );
    let listed = client.limits().await.unwrap();
    assert_eq!(listed[0].scope, "task:limited");
    assert_eq!(listed[0].rate.as_deref(), Some("1/h"));
    assert_eq!(listed[0].waiting, 1, "the held task is counted");
    client.remove_limit("task:limited", None).await.unwrap();
    let status = second.wait(&client, SOON).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Succeeded,
        "removing the limit lets it run"
    );
    assert!(client.limits().await.unwrap().is_empty());
    let bad = client
        .set_limit(&Limit::task("limited").rate("10/x"))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("rate"), "{bad}");
    worker.stop().await.unwrap();
}
