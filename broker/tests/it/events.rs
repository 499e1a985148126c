//! The event stream (issue 13): every state a task passes through, in order; resuming with no
//! gap and no duplicate; the too-old answer; events kept across a restart; a slow watcher told
//! it fell behind while a fast one keeps pace.

use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Client, Event, EventQuery, EventWatch, Task, WatchItem};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{lease, SOON};

/// The next item of a watch, failing the test after [`SOON`].
async fn next(watch: &mut EventWatch) -> Option<WatchItem> {
    tokio::time::timeout(SOON, watch.next())
        .await
        .expect("an item within the timeout")
        .expect("the watch works")
}

/// Opens a live watch and waits until it is following (so nothing made after this is missed).
async fn watch_live(client: &Client, query: EventQuery) -> EventWatch {
    let mut watch = client.watch_events(query).await.expect("watch");
    match next(&mut watch).await {
        Some(WatchItem::Live { .. }) => watch,
        other => panic!("expected the live marker first, got {other:?}"),
    }
}

/// Reads events until `n` arrived.
async fn events(watch: &mut EventWatch, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        match next(watch).await {
            Some(WatchItem::Event(event)) => out.push(*event),
            Some(other) => panic!("expected events, got {other:?} after {out:?}"),
            None => panic!("the watch ended after {out:?}"),
        }
    }
    out
}

/// Every retained event from `from` on (a query that stops at the end).
async fn stored(client: &Client, from: u64) -> Vec<Event> {
    let mut watch = client
        .watch_events(EventQuery {
            from_seq: Some(from),
            stop_at_end: true,
            ..EventQuery::default()
        })
        .await
        .expect("watch");
    let mut out = Vec::new();
    while let Some(item) = next(&mut watch).await {
        match item {
            WatchItem::Event(event) => out.push(*event),
            other => panic!("expected only events, got {other:?}"),
        }
    }
    out
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn assert_increasing(events: &[Event]) {
    for pair in events.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "not in order: {pair:?}");
    }
}

#[tokio::test]
async fn a_task_life_is_every_state_it_passed_in_order_and_its_history_says_the_same() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let mut watch = watch_live(
        &client,
        EventQuery {
            task_ids: vec!["life".into()],
            ..EventQuery::default()
        },
    )
    .await;

    let task = Task::new("work")
        .queue("q")
        .id("life")
        .max_retries(1)
        .retry_backoff(Duration::from_millis(50));
    client.enqueue(task).await.unwrap();
    let first = lease(&client, "q", 1).await.remove(0);
    client
        .ack_failure(&first, "Boom", "the first attempt broke", false, None)
        .await
        .unwrap();
    // Back to READY after the backoff: wait for it through the stream, not a sleep.
    let early = events(&mut watch, 5).await;
    assert_eq!(
        kinds(&early),
        [
            "task-sent",
            "task-leased",
            "task-started",
            "task-retried",
            "task-ready"
        ]
    );
    let second = lease(&client, "q", 1).await.remove(0);
    client
        .ack_success(&second, b"42".to_vec(), "application/json")
        .await
        .unwrap();
    let late = events(&mut watch, 3).await;
    assert_eq!(
        kinds(&late),
        ["task-leased", "task-started", "task-succeeded"]
    );

    let all: Vec<Event> = early.into_iter().chain(late).collect();
    assert_increasing(&all);
    let attempts: Vec<u32> = all.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, [0, 1, 1, 1, 1, 2, 2, 2]);
    let retried = &all[3];
    assert_eq!(
        retried.error.as_ref().map(|e| e.kind.as_str()),
        Some("Boom")
    );
    assert!(retried.due_at.is_some(), "a retry says when: {retried:?}");
    assert!(
        all[7].runtime.is_some(),
        "success has a runtime: {:?}",
        all[7]
    );
    assert!(all
        .iter()
        .all(|e| e.task_name.as_deref() == Some("work") && e.queue.as_deref() == Some("q")));

    let history = client.task_history("life").await.unwrap();
    assert!(!history.truncated);
    assert_eq!(history.events, all, "the history is the stream's events");
}

#[tokio::test]
async fn failing_replaying_revoking_and_expiring_each_make_their_event() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let mut watch = watch_live(&client, EventQuery::default()).await;

    client
        .enqueue(Task::new("t").queue("q").id("dead"))
        .await
        .unwrap();
    let leased = lease(&client, "q", 1).await.remove(0);
    client.nack_reject(&leased, "bad input").await.unwrap();
    client
        .replay_dead_letters("q", &["dead"], None)
        .await
        .unwrap();
    client
        .enqueue(Task::new("t").queue("other").id("gone"))
        .await
        .unwrap();
    client.revoke(&["gone"]).await.unwrap();
    client
        .enqueue(
            Task::new("t")
                .queue("late")
                .id("stale")
                .expires_in(Duration::from_millis(1)),
        )
        .await
        .unwrap();

    let seen = events(&mut watch, 9).await;
    let of = |id: &str| -> Vec<&str> {
        seen.iter()
            .filter(|e| e.task_id.as_deref() == Some(id))
            .map(|e| e.kind.as_str())
            .collect()
    };
    assert_eq!(
        of("dead"),
        [
            "task-sent",
            "task-leased",
            "task-started",
            "task-failed",
            "task-dead-lettered",
            "task-replayed"
        ]
    );
    assert_eq!(of("gone"), ["task-sent", "task-revoked"]);
    assert_eq!(of("stale"), ["task-sent"]);
    let rejected = seen.iter().find(|e| e.kind == "task-failed").unwrap();
    assert_eq!(
        rejected.error.as_ref().map(|e| e.message.as_str()),
        Some("bad input")
    );
    // The expiry driver (or the next lease) expires it.
    let expired = events(&mut watch, 1).await.remove(0);
    assert_eq!(
        (expired.kind.as_str(), expired.task_id.as_deref()),
        ("task-expired", Some("stale"))
    );
}

#[tokio::test]
async fn a_watcher_that_reconnects_with_its_last_seq_misses_nothing_and_sees_nothing_twice() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let mut watch = watch_live(&client, EventQuery::default()).await;
    for i in 0..5 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("a-{i}")))
            .await
            .unwrap();
    }
    let before = events(&mut watch, 5).await;
    drop(watch);
    // Made while nobody watches.
    for i in 0..7 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("b-{i}")))
            .await
            .unwrap();
    }
    let last = before.last().unwrap().seq;
    let mut resumed = client
        .watch_events(EventQuery {
            from_seq: Some(last + 1),
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let missed = events(&mut resumed, 7).await;
    assert!(matches!(
        next(&mut resumed).await,
        Some(WatchItem::Live { .. })
    ));
    client
        .enqueue(Task::new("t").queue("q").id("c-0"))
        .await
        .unwrap();
    let live = events(&mut resumed, 1).await;

    let seen: Vec<Event> = before.into_iter().chain(missed).chain(live).collect();
    assert_increasing(&seen);
    let everything = stored(&client, 0).await;
    assert_eq!(seen, everything, "no gap, no duplicate");
    let ids: Vec<&str> = seen.iter().filter_map(|e| e.task_id.as_deref()).collect();
    assert_eq!(ids.len(), 13);
}

#[tokio::test]
async fn asking_for_trimmed_events_says_too_old_with_the_oldest_kept() {
    let broker = TestBroker::start_with(|c| c.event_retention_count = 3).await;
    let client = broker.client().await;
    for i in 0..10 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("t-{i}")))
            .await
            .unwrap();
    }
    // The retention driver trims every second.
    let first = wait_until(
        SOON,
        || async {
            let mut watch = client
                .watch_events(EventQuery {
                    from_seq: Some(0),
                    stop_at_end: true,
                    ..EventQuery::default()
                })
                .await
                .unwrap();
            next(&mut watch).await
        },
        |item| matches!(item, Some(WatchItem::TooOld { .. })),
    )
    .await
    .expect("the start of the log is trimmed");
    let Some(WatchItem::TooOld {
        asked_seq,
        oldest_seq,
    }) = first
    else {
        unreachable!()
    };
    assert_eq!(asked_seq, 0);
    let kept = stored(&client, oldest_seq).await;
    assert_eq!(kept.len(), 3, "retention keeps the last 3: {kept:?}");
    assert_eq!(kept[0].seq, oldest_seq);
    assert_eq!(kept[2].task_id.as_deref(), Some("t-9"));
}

#[tokio::test]
async fn events_survive_a_restart_and_numbers_keep_growing() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    // With a payload: its body record is keyed just below the events, where a read from 0 once
    // took it for events.
    client
        .enqueue(
            Task::new("t")
                .queue("q")
                .id("before")
                .payload(b"x".to_vec(), "text/plain"),
        )
        .await
        .unwrap();
    let before = stored(&client, 0).await;
    broker.restart().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("after"))
        .await
        .unwrap();
    let after = stored(&client, 0).await;
    assert_eq!(after[..before.len()], before[..], "kept across the restart");
    let new = after.last().unwrap();
    assert_eq!(new.task_id.as_deref(), Some("after"));
    assert!(new.seq > before.last().unwrap().seq);
}

#[tokio::test]
async fn a_slow_watcher_is_told_it_fell_behind_and_misses_nothing_while_a_fast_one_keeps_pace() {
    // Enough to fill the slow watcher's HTTP/2 window (2 MiB), its queue in the broker and
    // the live backlog (1024 commands) behind it: long names and ids make each event about 550 bytes.
    const TASKS: usize = 6_000;
    let (name, queue) = ("n".repeat(200), "q".repeat(200));
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let query = EventQuery {
        types: vec!["task-sent".into()],
        ..EventQuery::default()
    };
    let mut fast = watch_live(&client, query.clone()).await;
    // Not read until every task is in: the broker must not wait for it.
    let mut slow = watch_live(&client, query).await;

    let fast_reader = tokio::spawn(async move { events(&mut fast, TASKS).await });
    let producer = Arc::new(client.clone());
    let mut producers = Vec::new();
    for lane in 0..4 {
        let client = producer.clone();
        let (name, queue) = (name.clone(), queue.clone());
        producers.push(tokio::spawn(async move {
            for i in (lane..TASKS).step_by(4) {
                let id = format!("{}-{i:05}", "i".repeat(120));
                let task = Task::new(name.as_str()).queue(queue.as_str()).id(id);
                client.enqueue(task).await.unwrap();
            }
        }));
    }
    for producer in producers {
        tokio::time::timeout(Duration::from_secs(120), producer)
            .await
            .expect("the producers are not held up by a slow watcher")
            .unwrap();
    }
    let fast = tokio::time::timeout(SOON, fast_reader)
        .await
        .expect("the fast watcher keeps pace")
        .unwrap();

    let mut lagged = Vec::new();
    let mut slow_events = Vec::new();
    while slow_events.len() < TASKS {
        match next(&mut slow).await {
            Some(WatchItem::Event(event)) => slow_events.push(*event),
            Some(WatchItem::Lagged { resume_from }) => lagged.push(resume_from),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        !lagged.is_empty(),
        "the slow watcher is told it fell behind"
    );
    assert_increasing(&slow_events);
    assert_eq!(slow_events, fast, "nothing skipped, nothing twice");
}
