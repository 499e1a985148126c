//! Tasks run and results arrive; concurrency bounds what runs at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskError, WorkerBuilder};

use crate::support::{spawn, SOON};

#[tokio::test]
async fn a_registered_task_runs_and_its_result_arrives() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.queues(["math"])
            .task("add", |(a, b): (i64, i64)| async move {
                Ok::<_, TaskError>(a + b)
            })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("add").queue("math").json(&(2, 3)).unwrap())
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(status.json::<i64>().unwrap(), 5);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn no_more_tasks_run_at_once_than_the_concurrency() {
    let broker = TestBroker::start().await;
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now_h, most_h) = (now.clone(), most.clone());
    let worker = spawn(&broker, move |w| {
        w.concurrency(2).task("slow", move |(): ()| {
            let (now, most) = (now_h.clone(), most_h.clone());
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, TaskError>(())
            }
        })
    })
    .await;
    let client = broker.client().await;
    let tasks: Vec<Task> = (0..8)
        .map(|_| Task::new("slow").json(&()).unwrap())
        .collect();
    let handles = client.enqueue_many(tasks).await.unwrap();
    for handle in handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "two slots, two at most at once"
    );
    worker.stop().await.unwrap();
}

/// Which worker ran a `quick` task.
fn quick(name: &'static str) -> impl Fn(WorkerBuilder) -> WorkerBuilder {
    move |w: WorkerBuilder| {
        w.task(
            "quick",
            move |(): ()| async move { Ok::<_, TaskError>(name) },
        )
        .task("slow", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, TaskError>("slow")
        })
    }
}

#[tokio::test]
async fn prefetched_tasks_behind_a_slow_one_go_back_to_the_broker_for_other_workers() {
    let broker = TestBroker::start().await;
    let busy = spawn(&broker, |w| {
        quick("busy")(w)
            .concurrency(1)
            .prefetch(2)
            .prefetch_lease(Duration::from_millis(300))
    })
    .await;
    let client = broker.client().await;
    let slow = client
        .enqueue(Task::new("slow").json(&3_000u64).unwrap())
        .await
        .unwrap();
    let held = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| w.iter().any(|w| w.running.len() == 1),
    )
    .await;
    assert!(held.is_ok(), "the slow task runs: {held:?}");
    let quick_ones = client
        .enqueue_many(
            (0..2)
                .map(|_| Task::new("quick").json(&()).unwrap())
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let free = spawn(&broker, |w| quick("free")(w).worker_id("free")).await;
    for handle in quick_ones {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(
            status.json::<String>().unwrap(),
            "free",
            "a quick task does not wait behind the slow one"
        );
        assert_eq!(
            status.attempts, 1,
            "a prefetch that went back is no attempt"
        );
    }
    assert_eq!(
        slow.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    busy.stop().await.unwrap();
    free.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reconnects_when_the_broker_restarts() {
    let mut broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task(
            "echo",
            |text: String| async move { Ok::<_, TaskError>(text) },
        )
    })
    .await;
    let client = broker.client().await;
    let before = client
        .enqueue(Task::new("echo").json("one").unwrap())
        .await
        .unwrap();
    assert_eq!(
        before.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );

    let addr = broker.addr();
    broker.restart().await;
    assert_eq!(broker.addr(), addr, "the broker came back on its address");
    let client = broker.client().await;
    let after = client
        .enqueue(Task::new("echo").json("two").unwrap())
        .await
        .unwrap();
    let status = after.wait(&client, SOON).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Succeeded,
        "the worker reconnected and ran it"
    );
    assert_eq!(status.json::<String>().unwrap(), "two");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_worker_with_the_token_serves_a_broker_that_needs_one() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some("s3cret".into())).await;
    let worker = spawn(&broker, |w| {
        w.auth_token("s3cret").task(
            "echo",
            |text: String| async move { Ok::<_, TaskError>(text) },
        )
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("echo").json("hi").unwrap())
        .await
        .unwrap();
    assert_eq!(
        handle.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    worker.stop().await.unwrap();

    let refused = stalk_worker::Worker::builder(broker.url())
        .task(
            "echo",
            |text: String| async move { Ok::<_, TaskError>(text) },
        )
        .connect()
        .await
        .unwrap()
        .run(std::future::pending())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("token") || refused.to_string().contains("authorization"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_running_worker_is_listed_with_its_queues_and_tasks() {
    let broker = TestBroker::start().await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let open = gate.clone();
    let worker = spawn(&broker, move |w| {
        w.queues(["listed"])
            .concurrency(1)
            .task("wait", move |(): ()| {
                let gate = open.clone();
                async move {
                    let _permit = gate
                        .acquire()
                        .await
                        .map_err(|e| TaskError::fatal("Gate", e.to_string()))?;
                    Ok::<_, TaskError>(())
                }
            })
    })
    .await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("wait").queue("listed").json(&()).unwrap())
        .await
        .unwrap();
    let listed = stalk_testkit::wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| w.len() == 1 && w[0].running.len() == 1,
    )
    .await
    .expect("the worker is listed running its task");
    assert_eq!(listed[0].worker_id, "test-worker");
    assert_eq!(listed[0].queues, ["listed"]);
    assert_eq!(listed[0].task_names, ["wait"]);
    assert_eq!(listed[0].running[0].0, handle.id);
    gate.add_permits(1);
    assert_eq!(
        handle.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn heartbeats_keep_an_idle_worker_connected() {
    let broker = TestBroker::start_with(|c| c.worker_silence = Duration::from_millis(300)).await;
    let worker = spawn(&broker, |w| {
        w.heartbeat(Duration::from_millis(50))
            .task(
                "echo",
                |text: String| async move { Ok::<_, TaskError>(text) },
            )
    })
    .await;
    let client = broker.client().await;
    let connected = stalk_testkit::wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| w.len() == 1,
    )
    .await
    .expect("the worker connects")[0]
        .connected_at;
    // Well past the silence limit, by the broker's own clock: a task with a countdown becomes due.
    let marker = client
        .enqueue(
            Task::new("marker")
                .queue("clock")
                .countdown(Duration::from_millis(900)),
        )
        .await
        .unwrap();
    let due = stalk_testkit::wait_until(
        SOON,
        || async { client.result(&marker.id, None).await.unwrap().state },
        |s| *s == TaskState::Ready,
    )
    .await;
    assert_eq!(due, Ok(TaskState::Ready));
    let workers = client.list_workers().await.unwrap();
    assert_eq!(workers.len(), 1, "still connected: {workers:?}");
    assert_eq!(
        workers[0].connected_at, connected,
        "the same session, never dropped and reopened"
    );
    let handle = client
        .enqueue(Task::new("echo").json("still here").unwrap())
        .await
        .unwrap();
    assert_eq!(
        handle.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    worker.stop().await.unwrap();
}

const CERT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../broker/tests/fixtures/tls-cert.pem"
);
const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../broker/tests/fixtures/tls-key.pem"
);

#[tokio::test]
async fn a_worker_that_trusts_the_ca_serves_a_tls_broker() {
    let broker = TestBroker::start_with(|c| {
        c.tls = Some(stalk_broker::config::TlsFiles {
            cert: CERT.into(),
            key: KEY.into(),
        });
    })
    .await;
    let addr = format!("https://{}", broker.addr());
    let worker = stalk_worker::Worker::builder(addr.as_str())
        .tls_ca_file(CERT)
        .task("add", |(a, b): (i64, i64)| async move {
            Ok::<_, TaskError>(a + b)
        })
        .connect()
        .await
        .expect("a TLS session");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let client = stalk_client::Client::builder(addr.as_str())
        .tls_ca_pem(std::fs::read(CERT).unwrap())
        .connect()
        .await
        .unwrap();
    let status = client
        .enqueue(Task::new("add").json(&(2, 2)).unwrap())
        .await
        .unwrap()
        .wait(&client, SOON)
        .await
        .unwrap();
    assert_eq!(status.json::<i64>().unwrap(), 4);
    let _ = stop.send(());
    running.await.unwrap().unwrap();

    let missing = stalk_worker::Worker::builder(addr.as_str())
        .tls_ca_file("/nonexistent/ca.pem")
        .task("add", |(a, b): (i64, i64)| async move {
            Ok::<_, TaskError>(a + b)
        })
        .connect()
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/ca.pem"),
        "{missing}"
    );
}

#[tokio::test]
async fn a_slow_task_does_not_hold_quick_ones_queued_behind_it() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| quick("one")(w).concurrency(2)).await;
    let client = broker.client().await;
    let slow = client
        .enqueue(Task::new("slow").json(&2_000u64).unwrap())
        .await
        .unwrap();
    let quick_ones = client
        .enqueue_many(
            (0..20)
                .map(|_| Task::new("quick").json(&()).unwrap())
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    for handle in quick_ones {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    let still = client.result(&slow.id, None).await.unwrap();
    assert_eq!(
        still.state,
        TaskState::Running,
        "all quick tasks finished on the other slot while the slow one ran"
    );
    assert_eq!(
        slow.wait(&client, SOON).await.unwrap().state,
        TaskState::Succeeded
    );
    worker.stop().await.unwrap();
}

/// A push of many large tasks is one message over tonic's 4 MiB default: the session must take
/// it, not break and reconnect forever.
#[tokio::test]
async fn a_push_of_large_tasks_over_four_mib_is_received_and_run() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    // 16 tasks of 512 KiB, waiting before the worker comes: its first push holds them all.
    let big = "x".repeat(512 << 10);
    let tasks: Vec<Task> = (0..16)
        .map(|_| Task::new("size").json(&big).unwrap())
        .collect();
    let handles = client.enqueue_many(tasks).await.unwrap();
    let worker = spawn(&broker, |w| {
        w.concurrency(4)
            .prefetch(12)
            .task(
                "size",
                |s: String| async move { Ok::<_, TaskError>(s.len()) },
            )
    })
    .await;
    for handle in handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
        assert_eq!(status.json::<usize>().unwrap(), 512 << 10);
    }
    worker.stop().await.unwrap();
}

/// A task sent with no payload (as `stalk enqueue report` and argument-less schedules send it)
/// runs a handler whose arguments allow nothing: `()`, an `Option`, a map; one that needs
/// arguments fails with a message that says the payload is missing (issue 11).
#[tokio::test]
async fn a_task_without_a_payload_runs_handlers_that_need_no_arguments() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task("unit", |(): ()| async move { Ok::<_, TaskError>("ran") })
            .task("optional", |args: Option<serde_json::Value>| async move {
                Ok::<_, TaskError>(args.is_none())
            })
            .task(
                "map",
                |args: std::collections::HashMap<String, String>| async move {
                    Ok::<_, TaskError>(args.len())
                },
            )
            .task("pair", |(a, b): (i64, i64)| async move {
                Ok::<_, TaskError>(a + b)
            })
    })
    .await;
    let client = broker.client().await;
    let run = |name: &'static str| {
        let client = client.clone();
        async move {
            let handle = client.enqueue(Task::new(name)).await.unwrap();
            handle.wait(&client, SOON).await.unwrap()
        }
    };
    let unit = run("unit").await;
    assert_eq!(unit.state, TaskState::Succeeded, "{unit:?}");
    assert_eq!(unit.json::<String>().unwrap(), "ran");
    let optional = run("optional").await;
    assert_eq!(optional.state, TaskState::Succeeded, "{optional:?}");
    assert!(optional.json::<bool>().unwrap(), "no payload is None");
    let map = run("map").await;
    assert_eq!(map.state, TaskState::Succeeded, "{map:?}");
    assert_eq!(
        map.json::<usize>().unwrap(),
        0,
        "no payload is an empty map"
    );
    let pair = run("pair").await;
    assert_eq!(pair.state, TaskState::Failed, "{pair:?}");
    let error = pair.error.expect("the failure says why");
    assert!(
        error.message.contains("no payload"),
        "the error names the missing payload: {error:?}"
    );
    worker.stop().await.unwrap();
}
