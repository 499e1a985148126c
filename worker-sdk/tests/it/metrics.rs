//! The worker's own `/metrics` (issue 13): a real broker and worker run a known workload, and
//! the counts are read back by parsing the exposition text.

use std::collections::HashMap;
use std::net::SocketAddr;

use stalk_client::{Task, TaskState};
use stalk_testkit::{http_get, wait_until, TestBroker};
use stalk_worker::{TaskError, Worker, WorkerError};

use crate::support::{finish, run_in_background, DemoWorker, SOON};

/// GETs `path` from `addr`: the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    http_get(addr, path).await.unwrap()
}

/// The samples of the exposition text, by series (`name{labels}`).
fn parse_samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The samples now.
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    parse_samples(&get(addr, "/metrics").await.1)
}

/// Every nonzero `stalk_worker_tasks_total` sample, by `task=…,outcome=…`.
fn task_counts(samples: &HashMap<String, f64>) -> HashMap<String, f64> {
    samples
        .iter()
        .filter(|(_, value)| **value != 0.0)
        .filter_map(|(series, value)| {
            let labels = series.strip_prefix("stalk_worker_tasks_total{")?;
            Some((labels.trim_end_matches('}').to_string(), *value))
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_a_known_workload_by_task_and_outcome() {
    let broker = TestBroker::start().await;
    let worker = Worker::builder(broker.url())
        .worker_id("metrics-worker")
        .concurrency(3)
        .metrics_listen("127.0.0.1:0")
        .task("ok", |(): ()| async move { Ok::<_, TaskError>(()) })
        .task("bad", |(): ()| async move {
            Err::<(), _>(TaskError::fatal("ValueError", "bad input"))
        })
        .connect()
        .await
        .expect("the worker connects");
    let addr = worker.metrics_addr().expect("metrics are served");
    let worker = run_in_background(worker);
    let client = broker.client().await;

    for _ in 0..5 {
        let status = finish(&client, Task::new("ok").json(&()).unwrap()).await;
        assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    }
    for _ in 0..2 {
        let status = finish(&client, Task::new("bad").json(&()).unwrap()).await;
        assert_eq!(status.state, TaskState::Failed, "dead-lettered: {status:?}");
    }
    let status = finish(&client, Task::new("nobody.knows").json(&()).unwrap()).await;
    assert_eq!(status.state, TaskState::Failed, "{status:?}");

    // The client may see a task done before the worker reads the broker's answer to its ack,
    // which is when the outcome is counted: wait for the counts.
    let expected: HashMap<String, f64> = [
        ("task=\"ok\",outcome=\"succeeded\"", 5.0),
        ("task=\"bad\",outcome=\"failed\"", 2.0),
        ("task=\"nobody.knows\",outcome=\"rejected\"", 1.0),
    ]
    .into_iter()
    .map(|(labels, n)| (labels.to_string(), n))
    .collect();
    let samples = wait_until(
        SOON,
        || scrape(addr),
        |samples| task_counts(samples) == expected,
    )
    .await;
    let samples = samples.unwrap_or_else(|seen| {
        panic!(
            "tasks_total should count exactly the workload; saw {:?}",
            task_counts(&seen)
        )
    });
    let sample = |series: &str| samples.get(series).copied();
    assert_eq!(
        (
            sample("stalk_worker_task_runtime_seconds_count{task=\"ok\"}"),
            sample("stalk_worker_task_runtime_seconds_count{task=\"bad\"}"),
        ),
        (Some(5.0), Some(2.0)),
        "one runtime per attempt run; the rejected task never ran: {samples:?}"
    );
    assert_eq!(
        sample("stalk_worker_task_runtime_seconds_count{task=\"nobody.knows\"}"),
        None
    );
    assert_eq!(
        sample("stalk_worker_slots"),
        Some(3.0),
        "slots = concurrency"
    );
    assert_eq!(sample("stalk_worker_busy_slots"), Some(0.0), "all done");
    assert_eq!(sample("stalk_worker_prefetched"), Some(0.0));
    assert_eq!(sample("stalk_worker_reconnects_total"), Some(0.0));
    let info = format!(
        "stalk_worker_info{{worker_id=\"metrics-worker\",pool=\"async\",sdk=\"stalk-worker/{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&info), Some(1.0), "{samples:?}");
    assert!(
        !samples
            .keys()
            .any(|series| series.contains("child_recycles")),
        "an async pool has no children to recycle: {samples:?}"
    );

    let (status, _) = get(addr, "/elsewhere").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn busy_slots_and_prefetched_show_what_the_worker_holds_now() {
    let broker = TestBroker::start().await;
    let (release, released) = tokio::sync::watch::channel(false);
    let worker = Worker::builder(broker.url())
        .concurrency(1)
        .prefetch(1)
        .metrics_listen("127.0.0.1:0")
        .task("hold", move |(): ()| {
            let mut released = released.clone();
            async move {
                let _ = released.wait_for(|go| *go).await;
                Ok::<_, TaskError>(())
            }
        })
        .connect()
        .await
        .expect("the worker connects");
    let addr = worker.metrics_addr().expect("metrics are served");
    let worker = run_in_background(worker);
    let client = broker.client().await;
    let mut handles = Vec::new();
    for _ in 0..2 {
        handles.push(
            client
                .enqueue(Task::new("hold").json(&()).unwrap())
                .await
                .unwrap(),
        );
    }
    let occupancy = |samples: &HashMap<String, f64>| {
        (
            samples.get("stalk_worker_busy_slots").copied(),
            samples.get("stalk_worker_prefetched").copied(),
        )
    };
    let held = wait_until(
        SOON,
        || scrape(addr),
        |samples| occupancy(samples) == (Some(1.0), Some(1.0)),
    )
    .await;
    assert!(
        held.is_ok(),
        "one task runs in the only slot, the other waits for it: {:?}",
        held.map_err(|seen| occupancy(&seen))
    );
    release.send(true).unwrap();
    for handle in handles {
        let status = handle.wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    let idle = wait_until(
        SOON,
        || scrape(addr),
        |samples| occupancy(samples) == (Some(0.0), Some(0.0)),
    )
    .await;
    assert!(idle.is_ok(), "{:?}", idle.map_err(|seen| occupancy(&seen)));
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_session_opened_again_after_the_broker_restarts_counts_as_a_reconnect() {
    let mut broker = TestBroker::start().await;
    let worker = Worker::builder(broker.url())
        .metrics_listen("127.0.0.1:0")
        .task("ok", |(): ()| async move { Ok::<_, TaskError>(()) })
        .connect()
        .await
        .expect("the worker connects");
    let addr = worker.metrics_addr().expect("metrics are served");
    let worker = run_in_background(worker);
    let client = broker.client().await;
    finish(&client, Task::new("ok").json(&()).unwrap()).await;
    let reconnects =
        |samples: &HashMap<String, f64>| samples.get("stalk_worker_reconnects_total").copied();
    assert_eq!(
        reconnects(&scrape(addr).await),
        Some(0.0),
        "the first session is no reconnect"
    );

    let before = broker.addr();
    broker.restart().await;
    assert_eq!(broker.addr(), before, "the broker came back on its address");
    let client = broker.client().await;
    let status = finish(&client, Task::new("ok").json(&()).unwrap()).await;
    assert_eq!(status.state, TaskState::Succeeded, "the worker reconnected");
    let seen = wait_until(SOON, || scrape(addr), |s| reconnects(s) == Some(1.0)).await;
    assert!(seen.is_ok(), "{:?}", seen.map_err(|s| reconnects(&s)));
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_are_off_unless_asked_for() {
    let broker = TestBroker::start().await;
    let worker = Worker::builder(broker.url())
        .task("ok", |(): ()| async move { Ok::<_, TaskError>(()) })
        .connect()
        .await
        .expect("the worker connects");
    assert_eq!(worker.metrics_addr(), None);
}

#[tokio::test]
async fn a_metrics_address_in_use_is_a_startup_error_naming_it() {
    let broker = TestBroker::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = Worker::builder(broker.url())
        .metrics_listen(addr.clone())
        .task("ok", |(): ()| async move { Ok::<_, TaskError>(()) })
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WorkerError::MetricsListen { addr: a, .. } if *a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains("--metrics-listen"), "{err}");
}

#[tokio::test]
async fn the_demo_worker_serves_metrics_where_its_log_says_and_counts_child_recycles() {
    let broker = TestBroker::start().await;
    let worker = DemoWorker::start(
        &broker,
        &[
            "--queues",
            "pf",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--max-tasks-per-child",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let log = worker
        .wait_for_log("metrics listening on ")
        .await
        .expect("the worker logs its metrics address");
    let addr: SocketAddr = log
        .split("metrics listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("an address after 'metrics listening on': {log}"));
    let client = broker.client().await;
    for _ in 0..2 {
        let status = finish(&client, Task::new("pid").json(&()).unwrap().queue("pf")).await;
        assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    }
    // Both are counted after the client can see the task done (a recycle once the child's
    // reply is reported, an outcome once the broker answered the ack): wait for them.
    let seen = |samples: &HashMap<String, f64>| {
        (
            samples
                .get("stalk_worker_child_recycles_total{reason=\"max_tasks\"}")
                .copied(),
            task_counts(samples)
                .get("task=\"pid\",outcome=\"succeeded\"")
                .copied(),
        )
    };
    let samples = wait_until(
        SOON,
        || scrape(addr),
        |samples| seen(samples) == (Some(2.0), Some(2.0)),
    )
    .await;
    let samples = samples.unwrap_or_else(|last| {
        panic!(
            "a child recycled after each task, and the parent counts what its children ran; \
             saw (recycles, succeeded) = {:?}",
            seen(&last)
        )
    });
    assert_eq!(
        samples.get("stalk_worker_child_recycles_total{reason=\"died\"}"),
        Some(&0.0),
        "{samples:?}"
    );
    let log = worker.log();
    assert!(
        log.contains(&format!("metrics_addr={addr}")),
        "the ready line names it too: {log}"
    );
}
