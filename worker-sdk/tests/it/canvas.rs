//! Workflows (issue 14) end to end through a real worker: results pass down chains and into
//! chord bodies in order, nesting composes, immutable steps ignore results, and a failure
//! revokes what waited for it, naming the step that failed.

use serde_json::{json, Value};
use std::sync::Arc;

use stalk_client::{
    chain, chord, group, Canvas, ChordPolicy, Client, ClientError, Task, TaskState, TaskStatus,
    WorkflowTree,
};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskError, WorkerBuilder};
use tokio::sync::Semaphore;

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
        .task("hang", |_: Value| async move {
            std::future::pending::<()>().await;
            Ok::<_, TaskError>(())
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

#[tokio::test]
async fn a_workflow_reads_whole_with_its_tree_and_a_group_s_results_in_order() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chord(
            [Canvas::from(add(1)), chain![add(2), add(3)]],
            Task::new("collect"),
        ))
        .await
        .expect("workflow");
    let status = client
        .wait_workflow(&flow.id, SOON)
        .await
        .expect("it finishes");
    assert!(status.finished && status.succeeded, "{status:?}");
    let header = vec![
        WorkflowTree::Task(0),
        WorkflowTree::Chain(vec![WorkflowTree::Task(1), WorkflowTree::Task(2)]),
    ];
    assert_eq!(
        status.tree,
        WorkflowTree::Chord {
            header: header.clone(),
            body: Box::new(WorkflowTree::Task(3)),
        }
    );
    let ids: Vec<&str> = status.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        flow.task_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // As Celery's GroupResult.get: each member's result, a chain's last step's.
    let members: Vec<Value> = status
        .results_of(&WorkflowTree::Group(header))
        .iter()
        .map(|t| t.json().expect("JSON"))
        .collect();
    assert_eq!(members, [json!(1), json!(5)]);
    assert_eq!(
        status.tasks[3].json::<Value>().expect("JSON"),
        json!([1, 5])
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn revoking_a_workflow_stops_its_running_task_and_revokes_what_waits() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let hang = Task::new("hang").json(&json!(null)).expect("JSON");
    let flow = client
        .enqueue_workflow(chain![hang, group![add(1), add(2)], Task::new("collect")])
        .await
        .expect("workflow");
    let running = wait_until(
        SOON,
        || client.result(&flow.task_ids[0], None),
        |s| s.as_ref().is_ok_and(|s| s.state == TaskState::Running),
    )
    .await;
    assert!(running.is_ok(), "the first step runs: {running:?}");
    client.revoke(&[&flow.id]).await.expect("revoke");
    let status = client
        .wait_workflow(&flow.id, SOON)
        .await
        .expect("everything ends");
    assert!(status.finished && !status.succeeded);
    for task in &status.tasks {
        assert_eq!(task.state, TaskState::Revoked, "{task:?}");
    }
    // The worker stopped the running task: its slot takes new work.
    let handle = client.enqueue(add(41)).await.expect("enqueue");
    let after = handle.wait(&client, SOON).await.expect("runs");
    assert_eq!(after.json::<i64>().expect("JSON"), 41);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_workflow_id_is_not_found() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let err = client
        .workflow("no-such-workflow")
        .await
        .expect_err("unknown");
    let ClientError::Status { code, message } = &err else {
        panic!("a status, not {err:?}");
    };
    assert_eq!(*code, tonic::Code::NotFound, "{message}");
    assert!(message.contains("no-such-workflow"), "{message}");
}

#[tokio::test]
async fn a_chord_of_ten_thousand_members_gives_its_body_every_result_in_order() {
    const MEMBERS: i64 = 10_000;
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| tasks(w).concurrency(32).prefetch(256)).await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chord((0..MEMBERS).map(add), Task::new("collect")))
        .await
        .expect("a chord of 10,000");
    assert_eq!(flow.task_ids.len(), 10_001);
    let body = client
        .wait_for(
            flow.last().expect("a body"),
            std::time::Duration::from_secs(120),
        )
        .await
        .expect("the body finishes");
    assert_eq!(body.state, TaskState::Succeeded, "{body:?}");
    let results: Vec<i64> = body.json().expect("the members' results");
    assert_eq!(results, (0..MEMBERS).collect::<Vec<_>>());
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn chord_policies_decide_what_a_failed_member_does_to_the_body() {
    let broker = TestBroker::start().await;
    let gate = Arc::new(Semaphore::new(0));
    let permits = gate.clone();
    let worker = spawn(&broker, move |w| {
        tasks(w).task("gated", move |n: Vec<i64>| {
            let permits = permits.clone();
            async move {
                permits.acquire().await.expect("open").forget();
                Ok::<_, TaskError>(n[0])
            }
        })
    })
    .await;
    let client = broker.client().await;
    let boom = || Task::new("boom").json(&json!(null)).expect("JSON");
    let gated = Task::new("gated").json(&[7]).expect("JSON");

    // Wait for all: the body waits for the gated member after another one failed.
    let flow = client
        .enqueue_workflow(
            chord([add(1), boom(), gated], Task::new("collect"))
                .on_member_failure(ChordPolicy::WaitAll),
        )
        .await
        .expect("chord");
    let failed = finished(&client, &flow.task_ids[1]).await;
    assert_eq!(failed.state, TaskState::Failed);
    let body_id = flow.last().expect("body").to_owned();
    let body = client.result(&body_id, None).await.expect("status");
    assert_eq!(
        body.state,
        TaskState::Waiting,
        "still waits for the gated member"
    );
    gate.add_permits(1);
    let body = finished(&client, &body_id).await;
    assert_eq!(body.state, TaskState::Revoked, "{body:?}");
    let error = body.error.expect("why");
    assert_eq!(
        (error.kind.as_str(), error.message.as_str()),
        ("ParentFailed", "1 of the 3 tasks it waited for failed")
    );

    // Partial: the body runs with the results and the error in place.
    let flow = client
        .enqueue_workflow(
            chord([add(1), boom(), add(3)], Task::new("collect"))
                .on_member_failure(ChordPolicy::Partial),
        )
        .await
        .expect("chord");
    let got = result(&client, flow.last().expect("body")).await;
    assert_eq!(
        got,
        json!([1, {"task_id": flow.task_ids[1], "error": {"kind": "ValueError", "message": "bad input"}}, 3])
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_link_runs_with_the_result_and_an_error_link_with_the_failure() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let boom = || Task::new("boom").json(&json!(null)).expect("JSON");

    // Success: the link gets the chain's result; the error link is not needed.
    let flow = client
        .enqueue_workflow(
            chain![add(1), add(2)]
                .link(Task::new("collect"))
                .link_error(Task::new("collect")),
        )
        .await
        .expect("workflow");
    let [_, _, link, errback] = flow.task_ids.as_slice() else {
        panic!("four tasks: {:?}", flow.task_ids);
    };
    assert_eq!(result(&client, link).await, json!(3));
    let skipped = finished(&client, errback).await;
    assert_eq!(skipped.state, TaskState::Revoked);
    assert_eq!(skipped.error.expect("why").kind, "NotNeeded");

    // Failure: the error link gets the failed task's id and error; the link never runs.
    let flow = client
        .enqueue_workflow(
            Canvas::from(boom())
                .link(add(1))
                .link_error(Task::new("collect")),
        )
        .await
        .expect("workflow");
    let [failed, link, errback] = flow.task_ids.as_slice() else {
        panic!("three tasks: {:?}", flow.task_ids);
    };
    assert_eq!(
        result(&client, errback).await,
        json!({"task_id": failed, "error": {"kind": "ValueError", "message": "bad input"}})
    );
    let link = finished(&client, link).await;
    assert_eq!(link.state, TaskState::Revoked);
    assert_eq!(link.error.expect("why").kind, "ParentFailed");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn map_starmap_and_chunks_run_the_handler_per_item() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        tasks(w).task_blocking("double", |args: Vec<i64>| Ok::<_, TaskError>(args[0] * 2))
    })
    .await;
    let client = broker.client().await;
    let items = |name: &str, items: &Value| Task::new(name).json(items).expect("JSON");

    let flow = client
        .enqueue_workflow(Canvas::map(items("double", &json!([1, 2, 3]))))
        .await
        .expect("map");
    assert_eq!(flow.task_ids.len(), 1, "one task");
    assert_eq!(result(&client, &flow.task_ids[0]).await, json!([2, 4, 6]));

    let flow = client
        .enqueue_workflow(Canvas::starmap(items(
            "math.add",
            &json!([[1, 2], [3, 4, 5]]),
        )))
        .await
        .expect("starmap");
    assert_eq!(result(&client, &flow.task_ids[0]).await, json!([3, 12]));

    // Five argument lists in chunks of two: three tasks, then a body with their lists.
    let chunked = Canvas::chunks(items("math.add", &json!([[1], [2], [3], [4], [5]])), 2);
    let flow = client
        .enqueue_workflow(chain![chunked, Task::new("collect")])
        .await
        .expect("chunks");
    assert_eq!(flow.task_ids.len(), 4);
    assert_eq!(
        result(&client, flow.last().expect("body")).await,
        json!([[1, 2], [3, 4], [5]])
    );

    // A map whose items are not a JSON array is refused before anything is stored.
    let err = client
        .enqueue_workflow(Canvas::map(items("double", &json!({"not": "a list"}))))
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("the items must be a JSON array"),
        "{err}"
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_chord_member_that_is_retried_still_gives_the_body_its_result() {
    let broker = TestBroker::start().await;
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    let worker = spawn(&broker, move |w| {
        tasks(w).task("flaky", move |args: Vec<i64>| {
            let calls = seen.clone();
            async move {
                // The first call of all fails and is retried.
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return Err(TaskError::retry("IOError", "try again"));
                }
                Ok(args[0])
            }
        })
    })
    .await;
    let client = broker.client().await;
    let flaky = |n: i64| {
        Task::new("flaky")
            .json(&[n])
            .expect("JSON")
            .retry_backoff(std::time::Duration::from_millis(10))
    };
    let flow = client
        .enqueue_workflow(chord([flaky(1), flaky(2), flaky(3)], Task::new("collect")))
        .await
        .expect("chord");
    assert_eq!(
        result(&client, flow.last().expect("body")).await,
        json!([1, 2, 3])
    );
    let status = client.workflow(&flow.id).await.expect("workflow");
    let attempts: u32 = status.tasks[..3].iter().map(|t| t.attempts).sum();
    assert_eq!(attempts, 4, "one member ran twice: {status:?}");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_chain_of_chords_passes_each_body_s_result_to_the_next_chord() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let collect = || Task::new("collect");
    let flow = client
        .enqueue_workflow(chain![
            chord([add(1), add(2)], collect()),
            chord([collect(), collect()], collect()),
        ])
        .await
        .expect("chain of chords");
    assert_eq!(flow.task_ids.len(), 6);
    // The first body gives [1, 2]; each member of the second header returns it; the second
    // body gets both.
    assert_eq!(result(&client, &flow.task_ids[2]).await, json!([1, 2]));
    assert_eq!(
        result(&client, flow.last().expect("last")).await,
        json!([[1, 2], [1, 2]])
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_workflow_says_when_it_was_submitted_and_when_it_finished() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, tasks).await;
    let client = broker.client().await;
    let boom = Task::new("boom").json(&json!(null)).expect("JSON");
    for (canvas, state, note) in [
        (
            chain![add(1), add(2)],
            TaskState::Succeeded,
            "every task succeeded",
        ),
        (
            chain![add(1), boom, add(3)],
            TaskState::Failed,
            "2 of 3 tasks did not succeed",
        ),
    ] {
        let flow = client.enqueue_workflow(canvas).await.expect("workflow");
        client
            .wait_workflow(&flow.id, SOON)
            .await
            .expect("finished");
        let history = client.task_history(&flow.id).await.expect("history");
        let kinds: Vec<&str> = history.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["workflow-submitted", "workflow-finished"]);
        let finished = &history.events[1];
        assert_eq!(finished.state, Some(state));
        assert_eq!(finished.note.as_deref(), Some(note));
    }
    worker.stop().await.unwrap();
}
