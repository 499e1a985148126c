//! Workflows (issue 14) end to end through a real worker: results pass down chains and into
//! chord bodies in order, nesting composes, immutable steps ignore results, and a failure
//! revokes what waited for it, naming the step that failed.

use serde_json::{json, Value};
use stalk_client::{chain, chord, group, Canvas, Client, Task, TaskState, TaskStatus};
use stalk_testkit::TestBroker;
use stalk_worker::{TaskError, WorkerBuilder};

use crate::support::{spawn, SOON};

/// `math.add` sums its positional arguments; `collect` returns its first argument (the
/// results it was given); `boom` fails for good.
fn tasks(w: WorkerBuilder) -> WorkerBuilder {
    w.concurrency(4)
        .task("math.add", |args: Vec<i64>| async move {
            Ok::<_, TaskError>(args.iter().sum::<i64>())
        })
        .task("collect", |args: Vec<Value>| async move {
            Ok::<_, TaskError>(args.into_iter().next().unwrap_or(Value::Null))
        })
        .task("boom", |_: Value| async move {
            Err::<(), _>(TaskError::fatal("ValueError", "bad input"))
        })
}

fn add(n: i64) -> Task {
    Task::new("math.add").json(&[n]).expect("JSON")
}

async fn finished(client: &Client, id: &str) -> TaskStatus {
    client.wait_for(id, SOON).await.expect("the task finishes")
}

async fn result(client: &Client, id: &str) -> Value {
    let status = finished(client, id).await;
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    status.json().expect("a JSON result")
}

#[tokio::test]
async fn a_chain_passes_each_result_to_the_next_step_which_waits_until_then() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![add(1), add(2), add(3)])
        .await
        .expect("the broker takes the workflow");
    assert_eq!(flow.task_ids.len(), 3);
    // No worker yet: the first step is ready, the later ones wait for it.
    let first = client
        .result(&flow.task_ids[0], None)
        .await
        .expect("status");
    assert_eq!(first.state, TaskState::Ready);
    for id in &flow.task_ids[1..] {
        let status = client.result(id, None).await.expect("status");
        assert_eq!(status.state, TaskState::Waiting, "{id}");
    }
    let worker = spawn(&broker, tasks).await;
    // add(1) = 1; add(1 | 2) = [1, 2] = 3; add(3 | 3) = [3, 3] = 6.
    assert_eq!(result(&client, &flow.task_ids[0]).await, json!(1));
    assert_eq!(result(&client, &flow.task_ids[1]).await, json!(3));
    assert_eq!(result(&client, &flow.task_ids[2]).await, json!(6));
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_chord_body_gets_the_header_results_in_order_and_nesting_composes() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;

    let flat = client
        .enqueue_workflow(chord([add(1), add(2), add(3)], Task::new("collect")))
        .await
        .expect("a chord");
    let body = flat.last().expect("a body");
    assert_eq!(result(&client, body).await, json!([1, 2, 3]));

    // A group of a chain and a task, then a step: a chord whose header nests, then a chain
    // whose first step is that chord.
    let nested = chain![
        group![chain![add(1), add(10)], add(2)],
        Task::new("collect"),
        add(100)
    ];
    let flow = client.enqueue_workflow(nested).await.expect("nested");
    let ids = &flow.task_ids;
    assert_eq!(ids.len(), 5);
    assert_eq!(result(&client, &ids[3]).await, json!([11, 2]));
    // add gets [[11, 2], 100]: not a list of numbers, so it fails; the chain stops there.
    let last = finished(&client, &ids[4]).await;
    assert_eq!(last.state, TaskState::Failed, "{last:?}");

    // A chain inside a chord's header, a chain as the body.
    let flow = client
        .enqueue_workflow(chord(
            [chain![add(1), add(1)], Canvas::from(add(5))],
            chain![Task::new("collect"), Task::new("collect")],
        ))
        .await
        .expect("chord of chains");
    // The second collect gets [[2, 5]] and returns [2, 5].
    assert_eq!(
        result(&client, flow.last().expect("last")).await,
        json!([2, 5])
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn an_immutable_step_ignores_the_result_and_a_payload_keeps_its_arguments() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![add(7), Canvas::immutable(add(5)), add(10)])
        .await
        .expect("workflow");
    assert_eq!(result(&client, &flow.task_ids[1]).await, json!(5));
    assert_eq!(result(&client, &flow.task_ids[2]).await, json!(15));
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_step_revokes_what_waits_for_it_naming_the_step() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let boom = || Task::new("boom").json(&json!(null)).expect("JSON");

    let flow = client
        .enqueue_workflow(chain![add(1), boom(), add(3), add(4)])
        .await
        .expect("chain");
    let failed = finished(&client, &flow.task_ids[1]).await;
    assert_eq!(failed.state, TaskState::Failed);
    for id in &flow.task_ids[2..] {
        let status = finished(&client, id).await;
        assert_eq!(status.state, TaskState::Revoked, "{status:?}");
        let error = status.error.expect("why it was revoked");
        assert_eq!(error.kind, "ParentFailed");
        assert!(
            error.message.contains(&flow.task_ids[1]) && error.message.contains("bad input"),
            "{}",
            error.message
        );
    }

    let flow = client
        .enqueue_workflow(chord([add(1), boom(), add(3)], Task::new("collect")))
        .await
        .expect("chord");
    let body = finished(&client, flow.last().expect("body")).await;
    assert_eq!(body.state, TaskState::Revoked, "{body:?}");
    // The other members still ran.
    assert_eq!(result(&client, &flow.task_ids[0]).await, json!(1));
    assert_eq!(result(&client, &flow.task_ids[2]).await, json!(3));
    worker.stop().await.unwrap();
}
