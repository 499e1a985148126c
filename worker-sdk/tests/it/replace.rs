//! Dynamic workflows (issue 14) through a real worker: a running task replaces itself with a
//! canvas (Celery's `self.replace`) and ends as it does, with its result, and what waited for
//! it goes on with that result; a task adds members to its workflow; revoking a replaced task
//! stops its replacement; a failed attempt hands nothing on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use stalk_client::{chain, chord, group, Client, Task, TaskState, TaskStatus, WorkflowTree};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskContext, TaskError, WorkerBuilder};

use crate::support::{spawn, SOON};

fn add(n: i64) -> Task {
    Task::new("math.add").json(&[n]).expect("JSON")
}

/// `split [n]` replaces itself with a group of `math.add(i)` for i in 1..=n; `relay [n]`
/// replaces itself with `split [n]` (a replacement that replaces itself); `sum` adds up a list
/// it is given; `collect` returns its first argument; `spawner` adds `math.add(100)` to its workflow and returns "spawned"; `failing_split` replaces itself with a task that fails for good; `wait` replaces itself with `hang`.
fn tasks(w: WorkerBuilder) -> WorkerBuilder {
    w.concurrency(4)
        .task("math.add", |args: Vec<i64>| async move {
            Ok::<_, TaskError>(args.iter().sum::<i64>())
        })
        .task("sum", |args: (Vec<i64>,)| async move {
            Ok::<_, TaskError>(args.0.iter().sum::<i64>())
        })
        .task("collect", |args: Vec<Value>| async move {
            Ok::<_, TaskError>(args.into_iter().next().unwrap_or(Value::Null))
        })
        .task_with_context("split", |args: Vec<i64>, ctx: TaskContext| async move {
            let n = args.first().copied().unwrap_or(0);
            ctx.replace(group((1..=n).map(add)));
            Ok::<_, TaskError>(())
        })
        .task_with_context("relay", |args: Vec<i64>, ctx: TaskContext| async move {
            ctx.replace(Task::new("split").json(&args)?);
            Ok::<_, TaskError>(())
        })
        .task_with_context("spawner", |_: Value, ctx: TaskContext| async move {
            ctx.add_to_workflow(add(100));
            Ok::<_, TaskError>("spawned")
        })
        .task_with_context("failing_split", |_: Value, ctx: TaskContext| async move {
            ctx.replace(Task::new("boom").json(&())?);
            Ok::<_, TaskError>(())
        })
        .task("boom", |_: Value| async move {
            Err::<(), _>(TaskError::fatal("ValueError", "bad input"))
        })
        .task_with_context("wait", |_: Value, ctx: TaskContext| async move {
            ctx.replace(Task::new("hang").json(&())?);
            Ok::<_, TaskError>(())
        })
        .task("hang", |_: Value| async move {
            std::future::pending::<()>().await;
            Ok::<_, TaskError>(())
        })
}

async fn finished(client: &Client, id: &str) -> TaskStatus {
    client.wait_for(id, SOON).await.expect("the task finishes")
}

#[tokio::test]
async fn a_replaced_step_ends_with_its_replacement_s_results_and_the_chain_goes_on() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![
            Task::new("split").json(&[3]).expect("JSON"),
            Task::new("sum"),
        ])
        .await
        .expect("a chain");
    let worker = spawn(&broker, tasks).await;
    let sum = finished(&client, &flow.task_ids[1]).await;
    assert_eq!(sum.state, TaskState::Succeeded, "{sum:?}");
    assert_eq!(sum.json::<Value>().expect("JSON"), json!(6), "1 + 2 + 3");
    let split = finished(&client, &flow.task_ids[0]).await;
    assert_eq!(split.json::<Value>().expect("JSON"), json!([1, 2, 3]));

    let status = client.wait_workflow(&flow.id, SOON).await.expect("status");
    assert!(status.succeeded);
    assert_eq!(status.tasks.len(), 5, "the replacement joined the workflow");
    assert_eq!(status.grafts.len(), 1);
    let graft = &status.grafts[0];
    assert_eq!(graft.task, 0, "the split step handed its work on");
    let members = vec![
        WorkflowTree::Task(2),
        WorkflowTree::Task(3),
        WorkflowTree::Task(4),
    ];
    assert_eq!(graft.replaced_by, Some(WorkflowTree::Group(members)));
    let results: Vec<Value> = status
        .results_of(graft.replaced_by.as_ref().expect("tree"))
        .iter()
        .map(|t| t.json().expect("JSON"))
        .collect();
    assert_eq!(results, [json!(1), json!(2), json!(3)]);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_task_in_no_workflow_becomes_one_of_its_id_and_replacements_nest() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let id = client
        .enqueue(Task::new("relay").json(&[2]).expect("JSON"))
        .await
        .expect("enqueue")
        .id;
    let worker = spawn(&broker, tasks).await;
    let relay = finished(&client, &id).await;
    assert_eq!(relay.state, TaskState::Succeeded, "{relay:?}");
    assert_eq!(
        relay.json::<Value>().expect("JSON"),
        json!([1, 2]),
        "relay -> split -> group: the innermost result comes all the way out"
    );
    let status = client
        .workflow(&id)
        .await
        .expect("the task's id names a workflow");
    assert_eq!(status.tree, WorkflowTree::Task(0));
    let by: Vec<usize> = status.grafts.iter().map(|g| g.task).collect();
    assert_eq!(by, [0, 1], "relay replaced by split, split by the group");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_chord_member_that_replaces_itself_gives_the_body_its_replacement_s_result() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chord(
            [add(10), Task::new("split").json(&[2]).expect("JSON")],
            Task::new("collect").json(&()).expect("JSON"),
        ))
        .await
        .expect("a chord");
    let worker = spawn(&broker, tasks).await;
    let body = finished(&client, flow.last().expect("a body")).await;
    assert_eq!(body.state, TaskState::Succeeded, "{body:?}");
    // The second member's place holds its replacement's results.
    assert_eq!(body.json::<Value>().expect("JSON"), json!([10, [1, 2]]));
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_replacement_fails_the_task_with_its_kind_and_stops_the_chain() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![
            Task::new("failing_split").json(&()).expect("JSON"),
            add(1),
        ])
        .await
        .expect("a chain");
    let worker = spawn(&broker, tasks).await;
    let replaced = finished(&client, &flow.task_ids[0]).await;
    assert_eq!(replaced.state, TaskState::Failed, "{replaced:?}");
    let error = replaced.error.expect("an error");
    assert_eq!(error.kind, "ValueError");
    assert!(error.message.contains("bad input"), "{}", error.message);
    let next = finished(&client, &flow.task_ids[1]).await;
    assert_eq!(next.state, TaskState::Revoked);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn revoking_a_replaced_task_stops_its_running_replacement() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let id = client
        .enqueue(Task::new("wait").json(&()).expect("JSON"))
        .await
        .expect("enqueue")
        .id;
    let worker = spawn(&broker, tasks).await;
    let running = wait_until(
        SOON,
        || async { client.workflow(&id).await.ok() },
        |status| {
            status
                .as_ref()
                .is_some_and(|s| s.tasks.len() == 2 && s.tasks[1].state == TaskState::Running)
        },
    )
    .await
    .expect("the replacement runs");
    let hang = running.expect("status").tasks[1].id.clone();
    client.revoke(&[id.as_str()]).await.expect("revoke");
    assert_eq!(finished(&client, &id).await.state, TaskState::Revoked);
    assert_eq!(finished(&client, &hang).await.state, TaskState::Revoked);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn added_members_run_with_the_workflow_which_waits_for_them() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![
            Task::new("spawner").json(&()).expect("JSON"),
            Task::new("collect"),
        ])
        .await
        .expect("a chain");
    let worker = spawn(&broker, tasks).await;
    let status = client.wait_workflow(&flow.id, SOON).await.expect("done");
    assert!(status.succeeded, "{status:?}");
    assert_eq!(status.tasks.len(), 3);
    assert_eq!(status.tasks[2].json::<Value>().expect("JSON"), json!(100));
    assert_eq!(
        status.tasks[1].json::<Value>().expect("JSON"),
        json!("spawned"),
        "the chain's next step got the spawner's own result"
    );
    assert_eq!(status.grafts[0].added, [WorkflowTree::Task(2)]);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_attempt_hands_nothing_on() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let tries = Arc::new(AtomicU32::new(0));
    let seen = tries.clone();
    let worker = spawn(&broker, move |w| {
        w.task_with_context("flaky", move |_: Value, ctx: TaskContext| {
            let seen = seen.clone();
            async move {
                ctx.replace(add(1));
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(TaskError::retry("Flaky", "first try fails"));
                }
                Ok::<_, TaskError>(())
            }
        })
        .task("math.add", |args: Vec<i64>| async move {
            Ok::<_, TaskError>(args.iter().sum::<i64>())
        })
    })
    .await;
    let id = client
        .enqueue(
            Task::new("flaky")
                .json(&())
                .expect("JSON")
                .max_retries(1)
                .retry_backoff(std::time::Duration::from_millis(10)),
        )
        .await
        .expect("enqueue")
        .id;
    let done = finished(&client, &id).await;
    assert_eq!(done.state, TaskState::Succeeded, "{done:?}");
    assert_eq!(done.json::<Value>().expect("JSON"), json!(1));
    let status = client.workflow(&id).await.expect("a workflow");
    assert_eq!(
        status.tasks.len(),
        2,
        "one replacement, from the attempt that succeeded"
    );
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    worker.stop().await.unwrap();
}
