//! Revoke: a revoked task never runs; a revoked leased task cannot be acked as success.

use stalk_client::{Revoked, RevokedWhile, Task, TaskState};
use stalk_testkit::TestBroker;
use tonic::Code;

use crate::support::lease;

#[tokio::test]
async fn a_revoked_waiting_task_never_runs() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let outcomes = client.revoke(&[&handle.id, "unknown-id"]).await.unwrap();
    assert_eq!(
        outcomes,
        [
            Revoked {
                id: handle.id.clone(),
                state: TaskState::Revoked,
                was: RevokedWhile::Waiting,
            },
            Revoked {
                id: "unknown-id".to_string(),
                state: TaskState::Unknown,
                was: RevokedWhile::Unknown,
            }
        ]
    );
    assert!(lease(&client, "q", 10).await.is_empty());
    broker.restart().await;
    let client = broker.client().await;
    assert!(
        lease(&client, "q", 10).await.is_empty(),
        "revocation is durable"
    );
    assert_eq!(
        client.result(&handle.id, None).await.unwrap().state,
        TaskState::Revoked
    );
}

#[tokio::test]
async fn a_revoked_leased_task_cannot_be_acked_afterwards() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t")).await.unwrap();
    let task = lease(&client, "default", 1).await.remove(0);
    let revoked = client.revoke(&[&handle.id]).await.unwrap();
    assert_eq!(
        revoked[0].was,
        RevokedWhile::Running,
        "a unary lease runs at once"
    );
    let err = client.ack_success(&task, Vec::new(), "").await.unwrap_err();
    assert_eq!(err.code(), Some(Code::FailedPrecondition));
    assert!(err.to_string().contains("revoked"), "{err}");
    assert_eq!(
        client.result(&handle.id, None).await.unwrap().state,
        TaskState::Revoked
    );
}

#[tokio::test]
async fn revoking_a_finished_task_changes_nothing() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t")).await.unwrap();
    let task = lease(&client, "default", 1).await.remove(0);
    client.ack_success(&task, Vec::new(), "").await.unwrap();
    let outcomes = client.revoke(&[&handle.id]).await.unwrap();
    assert_eq!(outcomes[0].state, TaskState::Succeeded);
    assert_eq!(outcomes[0].was, RevokedWhile::Finished);
}
