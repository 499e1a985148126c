//! The event stream through a real worker (issue 13): the worker comes online, its heartbeats
//! count what it ran, the task events name it, and a clean stop is a clean offline event.

use std::time::Duration;

use stalk_client::{EventQuery, Task, TaskState, WatchItem};
use stalk_testkit::TestBroker;
use stalk_worker::TaskError;

use crate::support::{spawn, SOON};

#[tokio::test]
async fn a_worker_comes_online_beats_runs_and_goes_offline_cleanly_in_the_stream() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let mut watch = client
        .watch_events(EventQuery {
            from_seq: Some(0),
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let worker = spawn(&broker, |w| {
        w.worker_id("w-events")
            .heartbeat(Duration::from_millis(100))
            .task("add", |(a, b): (i64, i64)| async move {
                Ok::<_, TaskError>(a + b)
            })
    })
    .await;
    let handle = client
        .enqueue(Task::new("add").id("sum").json(&(2, 3)).unwrap())
        .await
        .unwrap();
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded);

    let mut seen = Vec::new();
    // Until a heartbeat counts the task as processed.
    while !seen
        .iter()
        .any(|e: &stalk_client::Event| e.kind == "worker-heartbeat" && e.processed == 1)
    {
        match tokio::time::timeout(SOON, watch.next()).await {
            Ok(Ok(Some(WatchItem::Event(event)))) => seen.push(*event),
            Ok(Ok(Some(_))) => {}
            other => panic!("the stream ended or stalled: {other:?} after {seen:?}"),
        }
    }
    let listed = client.list_workers().await.unwrap();
    assert_eq!(
        listed[0].processed, 1,
        "the session counts what it completed"
    );
    worker.stop().await.unwrap();
    let offline = loop {
        match tokio::time::timeout(SOON, watch.next()).await {
            Ok(Ok(Some(WatchItem::Event(event)))) if event.kind == "worker-offline" => {
                break *event
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("no offline event: {other:?}"),
        }
    };

    let online = seen.iter().find(|e| e.kind == "worker-online").unwrap();
    assert_eq!(online.worker.as_deref(), Some("w-events"));
    let leased = seen
        .iter()
        .find(|e| e.kind == "task-leased" && e.task_id.as_deref() == Some("sum"))
        .unwrap();
    assert_eq!(leased.worker.as_deref(), Some("w-events"), "{leased:?}");
    let task: Vec<&str> = seen
        .iter()
        .filter(|e| e.task_id.as_deref() == Some("sum"))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        task,
        ["task-sent", "task-leased", "task-started", "task-succeeded"]
    );
    assert_eq!(offline.worker.as_deref(), Some("w-events"));
    assert_eq!(offline.note.as_deref(), Some("clean"));
    assert_eq!(offline.processed, 1);
}
