//! Delayed delivery through a real broker and worker: ETA and countdown tasks wait in the broker
//! (SCHEDULED, listed, counted, revocable), run in due order no earlier than their time, survive
//! a broker restart, and expire visibly if their expiry comes first.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskContext, TaskError, WorkerBuilder};

use crate::support::{spawn, SOON};

/// Which tasks started, in order, and when.
type Started = Arc<Mutex<Vec<(String, SystemTime)>>>;

/// A worker whose `mark` task records its start.
fn marking(started: &Started) -> impl FnOnce(WorkerBuilder) -> WorkerBuilder {
    let started = started.clone();
    move |w: WorkerBuilder| {
        w.task_with_context("mark", move |name: String, _ctx: TaskContext| {
            let started = started.clone();
            async move {
                started.lock().push((name, SystemTime::now()));
                Ok::<_, TaskError>(())
            }
        })
    }
}

fn mark(name: &str) -> Task {
    Task::new("mark").json(&name).unwrap()
}

#[tokio::test]
async fn countdown_and_eta_tasks_run_in_due_order_and_never_early() {
    let broker = TestBroker::start().await;
    let started = Started::default();
    // One slot: tasks start in the order the broker makes them ready.
    let worker = spawn(&broker, |w| marking(&started)(w).concurrency(1)).await;
    let client = broker.client().await;
    let sent = SystemTime::now();
    let at = sent + Duration::from_millis(450);
    let tasks = vec![
        mark("600ms").countdown(Duration::from_millis(600)),
        mark("eta+450ms").eta(at),
        mark("300ms").countdown(Duration::from_millis(300)),
        mark("now"),
    ];
    let handles = client.enqueue_many(tasks).await.unwrap();
    let stats = client.queue_stats(&["default"]).await.unwrap();
    assert!(
        stats[0].scheduled >= 2,
        "delayed tasks are counted as scheduled: {stats:?}"
    );
    for handle in handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    let started = started.lock().clone();
    let order: Vec<&str> = started.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(order, ["now", "300ms", "eta+450ms", "600ms"]);
    for (name, at) in &started {
        let due = match name.as_str() {
            "300ms" => Duration::from_millis(300),
            "eta+450ms" => Duration::from_millis(450),
            "600ms" => Duration::from_millis(600),
            _ => Duration::ZERO,
        };
        let after = at.duration_since(sent).unwrap_or_default();
        assert!(
            after >= due,
            "{name} started {after:?} after sending, before its time"
        );
    }
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn scheduled_tasks_survive_a_restart_are_listed_and_revocable() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let keep = client
        .enqueue(
            mark("kept")
                .queue("later")
                .countdown(Duration::from_millis(800)),
        )
        .await
        .unwrap();
    let drop = client
        .enqueue(
            mark("revoked")
                .queue("later")
                .countdown(Duration::from_millis(800)),
        )
        .await
        .unwrap();
    broker.restart().await;
    let client = broker.client().await;
    let (listed, _) = client
        .list_tasks("later", TaskState::Scheduled, 10, None)
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        2,
        "both wait in the broker after the restart: {listed:?}"
    );
    assert!(listed.iter().all(|t| t.due_at.is_some()), "{listed:?}");
    client.revoke(&[drop.id.as_str()]).await.unwrap();
    let started = Started::default();
    let worker = spawn(&broker, |w| marking(&started)(w).queues(["later"])).await;
    let status = keep.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    let revoked = client.result(&drop.id, None).await.unwrap();
    assert_eq!(revoked.state, TaskState::Revoked);
    assert_eq!(
        started
            .lock()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["kept"],
        "the revoked one never ran"
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_task_whose_expiry_comes_before_its_eta_expires_visibly() {
    let broker = TestBroker::start().await;
    let started = Started::default();
    let worker = spawn(&broker, marking(&started)).await;
    let client = broker.client().await;
    let handle = client
        .enqueue(
            mark("too late")
                .countdown(Duration::from_millis(1_500))
                .expires_in(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    let expired = wait_until(
        SOON,
        || async { client.result(&handle.id, None).await.unwrap() },
        |s| s.state == TaskState::Expired,
    )
    .await;
    assert!(expired.is_ok(), "{expired:?}");
    let later = client
        .enqueue(mark("sentinel").countdown(Duration::from_millis(1_600)))
        .await
        .unwrap();
    later.wait(&client, SOON).await.unwrap();
    assert_eq!(
        started
            .lock()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["sentinel"],
        "the expired task never ran"
    );
    worker.stop().await.unwrap();
}
