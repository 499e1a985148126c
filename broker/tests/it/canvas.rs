//! Workflows in the broker (issue 14): a chord's progress survives a restart (the results
//! already in stay in, the body is released once with all of them), and a bad workflow is
//! refused whole, naming the part that was wrong, with nothing stored.

use std::time::Duration;

use serde_json::{json, Value};
use stalk_client::{chain, chord, Canvas, ClientError, Task, TaskState};
use stalk_testkit::TestBroker;

use crate::support::{ids, lease, member};

#[tokio::test]
async fn a_chord_body_is_released_once_with_every_result_across_a_restart() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chord(
            [member(1), member(2), member(3)],
            Task::new("body").queue("q").json(&["extra"]).expect("JSON"),
        ))
        .await
        .expect("a chord");
    let body_id = flow.last().expect("a body").to_owned();
    let stats = client.queue_stats(&["q"]).await.expect("stats");
    assert_eq!((stats[0].ready, stats[0].waiting), (3, 1), "{stats:?}");

    let leased = lease(&client, "q", 10).await;
    assert_eq!(
        ids(&leased),
        flow.task_ids[..3].to_vec(),
        "only the header is ready"
    );
    for (task, value) in leased.iter().zip(["\"one\"", "{\"two\": 2}"]) {
        client
            .ack_success(task, value.as_bytes().to_vec(), "application/json")
            .await
            .expect("ack");
    }

    broker.restart().await;
    let client = broker.client().await;
    let body = client.result(&body_id, None).await.expect("status");
    assert_eq!(
        body.state,
        TaskState::Waiting,
        "the body still waits for member 3"
    );
    let kept = client
        .workflow(&flow.id)
        .await
        .expect("the workflow is kept");
    let states: Vec<TaskState> = kept.tasks.iter().map(|t| t.state).collect();
    use TaskState::{Ready, Succeeded, Waiting};
    assert_eq!(states, [Succeeded, Succeeded, Ready, Waiting]);
    // Member 3's lease died with the broker: it is ready again, and runs again.
    let again = lease(&client, "q", 10).await;
    assert_eq!(ids(&again), [flow.task_ids[2].as_str()]);
    client
        .ack_success(&again[0], b"3".to_vec(), "application/json")
        .await
        .expect("ack");

    let released = lease(&client, "q", 10).await;
    assert_eq!(ids(&released), [body_id.as_str()], "the body, once");
    let payload: Value = released[0].json().expect("JSON payload");
    assert_eq!(payload, json!([["one", {"two": 2}, 3], "extra"]));
    assert!(
        lease(&client, "q", 10).await.is_empty(),
        "nothing else to run"
    );
}

#[tokio::test]
async fn a_step_released_just_before_a_restart_is_ready_after_it() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![member(1), member(2)])
        .await
        .expect("a chain");
    let first = lease(&client, "q", 1).await;
    client
        .ack_success(&first[0], b"10".to_vec(), "application/json")
        .await
        .expect("ack");
    broker.restart().await;
    let client = broker.client().await;
    let second = lease(&client, "q", 1).await;
    assert_eq!(ids(&second), [flow.task_ids[1].as_str()]);
    assert_eq!(second[0].json::<Value>().expect("JSON"), json!([10, 2]));
}

#[tokio::test]
async fn a_bad_workflow_is_refused_whole_naming_the_part_that_is_wrong() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let cases: Vec<(Canvas, &str)> = vec![
        (
            chain![member(1), member(2).id("mine")],
            "workflows[0].chain.steps[1].task.task: the tasks of a workflow take no task_id",
        ),
        (Canvas::Chain(Vec::new()), "a chain needs at least one step"),
        (
            Canvas::Group(Vec::new()),
            "workflows[0].group.members: needs at least one member",
        ),
        (
            chain![
                member(1),
                Task::new("raw")
                    .queue("q")
                    .payload(b"\x00\x01".to_vec(), "application/octet-stream")
            ],
            "needs a JSON payload; make its signature immutable",
        ),
        (
            chain![member(1), member(2).countdown(Duration::from_secs(5))],
            "eta and countdown apply only to a workflow's first tasks",
        ),
        (
            chain![member(1), Task::new("bad name!").queue("q")],
            "workflows[0].chain.steps[1].task.task.name",
        ),
        (
            Canvas::chunks(member(1), 0),
            "workflows[0].chunks.size: 0 is not 1 to 10000",
        ),
    ];
    for (canvas, expected) in cases {
        let err = client.enqueue_workflow(canvas).await.expect_err("refused");
        let ClientError::Rejected { kind, message, .. } = &err else {
            panic!("a refusal, not {err:?}");
        };
        assert_eq!(kind, "INVALID_ARGUMENT", "{message}");
        assert!(
            message.contains(expected),
            "{message:?} should say {expected:?}"
        );
    }
    let stats = client.queue_stats(&[]).await.expect("stats");
    assert!(stats.is_empty(), "nothing was stored: {stats:?}");
}

#[tokio::test]
async fn explain_names_what_a_waiting_step_waits_for() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chord([member(1), member(2)], member(3)))
        .await
        .expect("a chord");
    let first = lease(&client, "q", 1).await;
    client
        .ack_success(&first[0], b"1".to_vec(), "application/json")
        .await
        .expect("ack");
    let explained = client
        .explain(flow.last().expect("body"))
        .await
        .expect("explain");
    assert_eq!(explained.state, TaskState::Waiting);
    let reason = explained
        .reasons
        .iter()
        .find(|r| r.code == "workflow")
        .expect("a workflow reason");
    assert_eq!(
        reason.message,
        format!(
            "it waits for 1 of the 2 tasks before it in its workflow: {}",
            flow.task_ids[1]
        )
    );
}

#[tokio::test]
async fn waiting_steps_are_listed_like_any_state() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![member(1), member(2), member(3)])
        .await
        .expect("a chain");
    let (page, next) = client
        .list_tasks("q", TaskState::Waiting, 10, None)
        .await
        .expect("listing");
    let ids: Vec<&str> = page.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        flow.task_ids[1..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(next.is_none());
}
