//! The answers to a session's `acks`: each names the acks it answers, because answers to
//! several `acks` messages in flight come back in any order, and a refused one says why.

use std::collections::HashMap;

use stalk_client::{Task, TaskState};
use stalk_proto::v1 as pb;
use stalk_proto::v1::task_queue_client::TaskQueueClient;
use stalk_testkit::TestBroker;

use crate::session::{open, Session};

/// Tasks acked one `acks` message each, all in flight at once (the issue saw 8 reorder).
const IN_FLIGHT: usize = 8;

/// The next `acked` answer; stops and granted extensions on the way are skipped.
async fn next_acked(session: &mut Session) -> pb::AckManyResponse {
    loop {
        match session.next().await.kind {
            Some(pb::broker_message::Kind::Acked(acked)) => return acked,
            Some(pb::broker_message::Kind::Stop(_) | pb::broker_message::Kind::Extended(_)) => {}
            other => panic!("expected an `acked` answer, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_ack_answer_names_the_task_and_lease_it_answers() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for i in 0..IN_FLIGHT {
        client
            .enqueue(Task::new("t").queue("q").id(format!("task-{i}")))
            .await
            .unwrap();
    }
    let mut session = open(&broker, &["q"]).await;
    session.credit(u32::try_from(IN_FLIGHT).unwrap()).await;
    let pushed = session.tasks(IN_FLIGHT).await;
    for task in &pushed {
        session.start(task).await;
    }
    // One ack will be stale: its task is revoked while the worker runs it.
    let stale = &pushed[IN_FLIGHT / 2];
    client.revoke(&[&stale.task_id]).await.unwrap();

    for task in &pushed {
        session.ack(std::slice::from_ref(task)).await;
    }
    let mut answered: HashMap<(String, u64), pb::AckManyResult> = HashMap::new();
    for _ in 0..IN_FLIGHT {
        let acked = next_acked(&mut session).await;
        assert_eq!(acked.results.len(), 1, "one result per ack: {acked:?}");
        let result = acked.results.into_iter().next().unwrap();
        let named = (result.task_id.clone(), result.lease_id);
        assert!(
            answered.insert(named, result).is_none(),
            "no ack is answered twice"
        );
    }

    for task in &pushed {
        let result = answered
            .get(&(task.task_id.clone(), task.lease_id))
            .unwrap_or_else(|| panic!("no answer names {} lease {}", task.task_id, task.lease_id));
        if task.task_id == stale.task_id {
            let error = result.error.as_ref().expect("the stale ack is refused");
            assert_eq!(error.kind, "FAILED_PRECONDITION", "{error:?}");
            assert!(error.message.contains("revoked"), "says why: {error:?}");
            assert_eq!(result.state(), pb::TaskState::Unspecified);
        } else {
            assert_eq!(result.error, None, "{}", task.task_id);
            assert_eq!(result.state(), pb::TaskState::Succeeded);
        }
    }
    let status = client.result(&stale.task_id, None).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Revoked,
        "the refused ack changed nothing"
    );
}

#[tokio::test]
async fn ack_many_results_name_their_acks_in_request_order() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for i in 0..3 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("u-{i}")))
            .await
            .unwrap();
    }
    let mut raw = TaskQueueClient::connect(broker.url()).await.unwrap();
    let pushed = raw
        .lease(pb::LeaseRequest {
            queues: vec!["q".into()],
            max_tasks: 3,
            ..pb::LeaseRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert_eq!(pushed.len(), 3);
    let acks = pushed
        .iter()
        .map(|t| pb::AckRequest {
            add: Vec::new(),
            task_id: t.task_id.clone(),
            lease_id: t.lease_id,
            outcome: Some(pb::ack_request::Outcome::Success(pb::TaskResult::default())),
        })
        .collect();
    let results = raw
        .ack_many(pb::AckManyRequest { acks })
        .await
        .unwrap()
        .into_inner()
        .results;
    let named: Vec<(String, u64)> = results
        .iter()
        .map(|r| (r.task_id.clone(), r.lease_id))
        .collect();
    let sent: Vec<(String, u64)> = pushed
        .iter()
        .map(|t| (t.task_id.clone(), t.lease_id))
        .collect();
    assert_eq!(named, sent);
}
