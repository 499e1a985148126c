//! Prometheus metrics (issue 13, first slice): `/metrics` on its own address, sampled from the
//! broker at scrape time and read back by parsing the exposition text.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use stalk_broker::clock::ManualClock;
use stalk_client::{Limit, Task};
use stalk_testkit::{http_get, wait_until, TestBroker};

use crate::support::{lease, Stalkd, SOON};

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

/// A broker serving metrics, on a manual clock; its metrics address.
async fn with_metrics_on_a_manual_clock() -> (TestBroker, Arc<ManualClock>, SocketAddr) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let broker = TestBroker::start_with_clock(clock.clone(), |c| {
        c.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let addr = broker.metrics_addr().expect("metrics are served");
    (broker, clock, addr)
}

#[tokio::test]
async fn metrics_show_queue_depth_by_state_as_the_broker_holds_it() {
    let broker = TestBroker::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".into())).await;
    let addr = broker.metrics_addr().expect("metrics are served");
    let client = broker.client().await;
    for i in 0..3 {
        client
            .enqueue(Task::new("t").queue("mail").id(format!("m-{i}")))
            .await
            .unwrap();
    }
    let leased = lease(&client, "mail", 1).await;
    assert_eq!(leased.len(), 1);

    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let samples = parse_samples(&body);
    let depth =
        |state: &str| samples[&format!("stalk_queue_tasks{{queue=\"mail\",state=\"{state}\"}}")];
    assert_eq!(
        (
            depth("ready"),
            depth("leased"),
            depth("scheduled"),
            depth("dead")
        ),
        (2.0, 1.0, 0.0, 0.0),
        "{body}"
    );
    assert_eq!(samples["stalk_up"], 1.0);
    assert_eq!(samples["stalk_worker_sessions"], 0.0);
    assert!(samples["stalk_store_bytes"] > 0.0, "{body}");
    assert!(body.contains("# HELP stalk_queue_tasks"), "{body}");

    client
        .ack_success(&leased[0], b"1".to_vec(), "application/json")
        .await
        .unwrap();
    client.purge_queue("mail", false).await.unwrap();
    let (_, body) = get(addr, "/metrics").await;
    let samples = parse_samples(&body);
    // An emptied queue has no tasks to show, so its series go (no stale value stays behind).
    let ready = samples.get("stalk_queue_tasks{queue=\"mail\",state=\"ready\"}");
    assert!(
        ready.is_none_or(|n| *n == 0.0),
        "sampled now, not kept from before: {body}"
    );

    let (status, _) = get(addr, "/nothing").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[tokio::test]
async fn metrics_are_off_unless_asked_for() {
    let broker = TestBroker::start().await;
    assert_eq!(broker.metrics_addr(), None);
}

#[tokio::test]
async fn stalkd_serves_metrics_where_its_ready_line_says() {
    let dir = tempfile::tempdir().unwrap();
    let stalkd = Stalkd::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let addr = stalkd
        .metrics_addr
        .expect("the ready line names metrics_addr");
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(parse_samples(&body)["stalk_up"], 1.0, "{body}");
    assert!(stalkd.terminate().success());

    let without = Stalkd::start(dir.path(), &[]);
    assert_eq!(without.metrics_addr, None);
}

#[tokio::test]
async fn counters_and_histograms_add_up_to_a_known_workload() {
    let (broker, clock, addr) = with_metrics_on_a_manual_clock().await;
    let client = broker.client().await;
    for i in 0..4 {
        client
            .enqueue(Task::new("mail").queue("q").id(format!("m-{i}")))
            .await
            .unwrap();
    }
    client
        .enqueue(Task::new("report").queue("slow").id("waiting"))
        .await
        .unwrap();
    // Waits 2 s before it starts, runs 3 s.
    clock.advance(2_000);
    let leased = lease(&client, "q", 3).await;
    clock.advance(3_000);
    client.ack_json(&leased[0], &1).await.unwrap();
    client.ack_json(&leased[1], &1).await.unwrap();
    client
        .ack_failure(&leased[2], "Boom", "it broke", true, None)
        .await
        .unwrap();
    let _watch = client
        .watch_events(stalk_client::EventQuery::default())
        .await
        .unwrap();

    let samples = wait_until(
        SOON,
        || async { parse_samples(&get(addr, "/metrics").await.1) },
        |s| s.get("stalk_event_watchers") == Some(&1.0),
    )
    .await
    .expect("the watcher is counted");
    let of = |name: &str| {
        samples
            .get(&format!("{name}{{queue=\"q\",task=\"mail\"}}"))
            .copied()
            .unwrap_or_else(|| panic!("no {name} in {samples:?}"))
    };
    assert_eq!(of("stalk_tasks_enqueued_total"), 4.0);
    assert_eq!(of("stalk_tasks_started_total"), 3.0);
    assert_eq!(of("stalk_tasks_succeeded_total"), 2.0);
    assert_eq!(of("stalk_tasks_failed_total"), 1.0);
    assert_eq!(of("stalk_tasks_dead_lettered_total"), 1.0);
    assert_eq!(of("stalk_tasks_retried_total"), 0.0);
    assert_eq!(of("stalk_task_wait_seconds_count"), 3.0);
    assert_eq!(of("stalk_task_wait_seconds_sum"), 6.0, "3 waits of 2 s");
    assert_eq!(of("stalk_task_runtime_seconds_count"), 3.0);
    assert_eq!(of("stalk_task_runtime_seconds_sum"), 9.0, "3 runs of 3 s");
    let bucket = |le: &str| {
        samples
            [&format!("stalk_task_runtime_seconds_bucket{{queue=\"q\",task=\"mail\",le=\"{le}\"}}")]
    };
    assert_eq!((bucket("2.5"), bucket("5")), (0.0, 3.0));
    // One ready task in `q`, one in `slow`, both waiting since their enqueue 5 s ago.
    assert_eq!(
        samples["stalk_queue_oldest_ready_seconds{queue=\"q\"}"],
        5.0
    );
    assert_eq!(
        samples["stalk_queue_oldest_ready_seconds{queue=\"slow\"}"],
        5.0
    );
    assert!(samples["stalk_group_commit_batch_commands_count"] >= 1.0);
    assert!(samples["stalk_group_commit_flush_seconds_count"] >= 1.0);
    assert!(samples["process_resident_memory_bytes"] > 0.0);
}

#[tokio::test]
async fn limit_waits_count_each_task_a_limit_held_back_and_each_queue_wait() {
    let (broker, _clock, addr) = with_metrics_on_a_manual_clock().await;
    let client = broker.client().await;
    client
        .set_limit(&Limit::task("email").rate("1/m").burst(1))
        .await
        .unwrap();
    client
        .set_limit(&Limit::task("report").max_concurrency(1))
        .await
        .unwrap();
    client
        .set_limit(&Limit::queue("bulk").rate("1/m").burst(1))
        .await
        .unwrap();
    for i in 0..3 {
        for (name, queue) in [("email", "mail"), ("report", "reports"), ("blast", "bulk")] {
            client
                .enqueue(Task::new(name).queue(queue).id(format!("{name}-{i}")))
                .await
                .unwrap();
        }
    }
    // One of each is admitted; the limits hold the other two of each task, and `bulk` waits.
    assert_eq!(lease(&client, "mail", 3).await.len(), 1);
    assert_eq!(lease(&client, "reports", 3).await.len(), 1);
    assert_eq!(lease(&client, "bulk", 3).await.len(), 1);
    assert!(lease(&client, "bulk", 3).await.is_empty());

    let wanted = [
        (
            "stalk_limit_waits_total{queue=\"mail\",task=\"email\",limit=\"rate\"}",
            2.0,
        ),
        (
            "stalk_limit_waits_total{queue=\"reports\",task=\"report\",limit=\"concurrency\"}",
            2.0,
        ),
        ("stalk_queue_throttled_total{queue=\"bulk\"}", 1.0),
    ];
    let samples = wait_until(
        SOON,
        || async { parse_samples(&get(addr, "/metrics").await.1) },
        |s| wanted.iter().all(|(name, n)| s.get(*name) == Some(n)),
    )
    .await;
    assert!(samples.is_ok(), "{samples:?}");
    let samples = samples.unwrap();
    assert_eq!(
        samples["stalk_limit_waits_total{queue=\"mail\",task=\"email\",limit=\"concurrency\"}"],
        0.0
    );

    let mut held = client
        .watch_events(stalk_client::EventQuery {
            from_seq: Some(0),
            types: vec!["task-held".into(), "queue-throttled".into()],
            stop_at_end: true,
            ..stalk_client::EventQuery::default()
        })
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(item) = held.next().await.unwrap() {
        if let stalk_client::WatchItem::Event(event) = item {
            events.push(*event);
        }
    }
    let notes: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.note.as_deref()))
        .collect();
    assert!(
        notes.contains(&("task-held", Some("rate limit task:email"))),
        "{notes:?}"
    );
    assert!(
        notes.contains(&("queue-throttled", Some("rate limit queue:bulk"))),
        "{notes:?}"
    );
    let rate_held = events
        .iter()
        .find(|e| e.kind == "task-held" && e.task_name.as_deref() == Some("email"))
        .unwrap();
    assert!(
        rate_held.due_at.is_some(),
        "a rate limit says when it has room"
    );
}
