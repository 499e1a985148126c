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

#[tokio::test]
async fn an_id_revoked_before_its_task_arrives_is_refused_on_arrival_even_after_a_restart() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let revoked = client.revoke(&["later"]).await.unwrap();
    assert_eq!(revoked[0].was, RevokedWhile::Unknown);
    broker.restart().await;
    let client = broker.client().await;

    let handle = client
        .enqueue(Task::new("t").queue("q").id("later"))
        .await
        .unwrap();
    assert_eq!(handle.state, TaskState::Revoked, "refused on arrival");
    assert!(lease(&client, "q", 10).await.is_empty(), "it never runs");
    let status = client.result("later", None).await.unwrap();
    assert_eq!(status.state, TaskState::Revoked);
    let error = status.error.expect("the result says why");
    assert!(
        error.message.contains("revoked before it arrived"),
        "{error:?}"
    );
}

#[tokio::test]
async fn revoking_by_header_revokes_live_tasks_and_refuses_later_ones_durably() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let tenant = |id: &str, value: &str| Task::new("t").queue("q").id(id).header("tenant", value);
    client.enqueue(tenant("acme-1", "acme")).await.unwrap();
    client.enqueue(tenant("other-1", "other")).await.unwrap();
    let running = lease(&client, "q", 1).await.remove(0);
    assert_eq!(running.id, "acme-1");
    client.enqueue(tenant("acme-2", "acme")).await.unwrap();

    let report = client
        .revoke_by_headers(&[("tenant", "acme")], None)
        .await
        .unwrap();
    assert_eq!(report.matched_count, 2);
    let mut matched: Vec<(String, RevokedWhile)> =
        report.matched.into_iter().map(|r| (r.id, r.was)).collect();
    matched.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        matched,
        [
            ("acme-1".to_string(), RevokedWhile::Running),
            ("acme-2".to_string(), RevokedWhile::Waiting)
        ]
    );
    broker.restart().await;
    let client = broker.client().await;
    let late = client.enqueue(tenant("acme-3", "acme")).await.unwrap();
    assert_eq!(
        late.state,
        TaskState::Revoked,
        "a later task with the header is refused"
    );
    let leased: Vec<String> = lease(&client, "q", 10)
        .await
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(leased, ["other-1"], "other headers are untouched");
}

#[tokio::test]
async fn a_revoke_that_names_nothing_or_remembers_too_long_is_invalid() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let err = client.revoke(&[]).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
    assert!(
        err.to_string().contains("at least one task id or header"),
        "{err}"
    );
    let err = client
        .revoke_by_headers(
            &[("tenant", "acme")],
            Some(std::time::Duration::from_secs(31 * 86_400)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
    assert!(err.to_string().contains("remember_ms"), "{err}");
    let err = client
        .revoke_by_headers(&[("", "x")], None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
}
