//! A task that replaces itself (issue 14), through the broker's own API: the replacement and
//! the task's WAITING state are one write, so a restart half way through the replacement keeps
//! the results already in and ends the task once, with all of them; a repeated replace ack
//! creates nothing more; a bad replacement is refused, naming its part, and changes nothing.

use serde_json::{json, Value};
use stalk_client::{chain, group, Canvas, ClientError, TaskState};
use stalk_proto::v1 as pb;
use stalk_proto::v1::task_queue_client::TaskQueueClient;
use stalk_testkit::TestBroker;
use tonic::Code;

use crate::support::{ids, lease, member};

#[tokio::test]
async fn a_replacement_half_done_at_a_restart_ends_the_task_once_with_every_result() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let flow = client
        .enqueue_workflow(chain![member(1), member(2)])
        .await
        .expect("a chain");
    let first = lease(&client, "q", 1).await;
    let replacement = group([member(10), member(20)]);
    let state = client
        .ack_replace(&first[0], replacement.clone())
        .await
        .expect("replace");
    assert_eq!(state, TaskState::Waiting);
    let again = client
        .ack_replace(&first[0], replacement)
        .await
        .expect("a repeat");
    assert_eq!(again, TaskState::Waiting, "the same answer, nothing more");

    let replacing = lease(&client, "q", 10).await;
    assert_eq!(
        replacing.len(),
        2,
        "two replacement tasks, once: {replacing:?}"
    );
    client
        .ack_success(&replacing[0], b"10".to_vec(), "application/json")
        .await
        .expect("ack");

    broker.restart().await;
    let client = broker.client().await;
    let status = client.workflow(&flow.id).await.expect("the workflow");
    let states: Vec<TaskState> = status.tasks.iter().map(|t| t.state).collect();
    use TaskState::{Ready, Succeeded, Waiting};
    assert_eq!(states, [Waiting, Waiting, Succeeded, Ready]);
    let rest = lease(&client, "q", 10).await;
    assert_eq!(
        ids(&rest),
        [replacing[1].id.as_str()],
        "its lease died: it runs again"
    );
    client
        .ack_success(&rest[0], b"20".to_vec(), "application/json")
        .await
        .expect("ack");

    let replaced = client
        .result(&flow.task_ids[0], None)
        .await
        .expect("status");
    assert_eq!(replaced.state, TaskState::Succeeded);
    assert_eq!(replaced.json::<Value>().expect("JSON"), json!([10, 20]));
    let next = lease(&client, "q", 10).await;
    assert_eq!(
        ids(&next),
        [flow.task_ids[1].as_str()],
        "the chain goes on, once"
    );
    assert_eq!(next[0].json::<Value>().expect("JSON"), json!([[10, 20], 2]));
}

#[tokio::test]
async fn a_bad_replacement_is_refused_naming_its_part_and_the_task_keeps_its_lease() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client.enqueue(member(1)).await.expect("enqueue");
    let leased = lease(&client, "q", 1).await;
    let cases: Vec<(Canvas, &str)> = vec![
        (
            Canvas::Chain(Vec::new()),
            "replace.chain.steps: a chain needs at least one step",
        ),
        (
            chain![member(1), member(2).id("mine")],
            "replace.chain.steps[1].task.task: the tasks of a workflow take no task_id",
        ),
    ];
    for (canvas, expected) in cases {
        let err = client
            .ack_replace(&leased[0], canvas)
            .await
            .expect_err("refused");
        let ClientError::Status { code, message } = &err else {
            panic!("a status, not {err:?}");
        };
        assert_eq!(*code, Code::InvalidArgument, "{message}");
        assert!(
            message.contains(expected),
            "{message:?} should say {expected:?}"
        );
    }
    let mut raw = TaskQueueClient::connect(broker.url())
        .await
        .expect("connect");
    let adding_to_a_failure = raw
        .ack(pb::AckRequest {
            task_id: leased[0].id.clone(),
            lease_id: leased[0].lease_id,
            outcome: Some(pb::ack_request::Outcome::Failure(pb::Failure {
                error: Some(pb::Error {
                    kind: "E".into(),
                    message: "m".into(),
                }),
                ..pb::Failure::default()
            })),
            add: vec![Canvas::from(member(3)).into_proto()],
        })
        .await
        .expect_err("refused");
    assert_eq!(adding_to_a_failure.code(), Code::InvalidArgument);
    assert!(
        adding_to_a_failure
            .message()
            .contains("add: a failed attempt adds nothing"),
        "{}",
        adding_to_a_failure.message()
    );
    let stats = client.queue_stats(&["q"]).await.expect("stats");
    assert_eq!((stats[0].leased, stats[0].ready), (1, 0), "nothing changed");
    let state = client
        .ack_success(&leased[0], b"1".to_vec(), "application/json")
        .await
        .expect("the lease still holds");
    assert_eq!(state, TaskState::Succeeded);
}
