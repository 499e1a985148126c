//! The broker tells a worker session at once when a lease it holds ends without it: a revoke,
//! or a start it refuses because the task expired while it waited in the worker's buffer.

use std::time::{Duration, SystemTime};

use stalk_client::{Task, TaskState};
use stalk_proto::v1 as pb;
use stalk_testkit::{wait_until, TestBroker};

use crate::session::{msg, open, Session};
use crate::support::SOON;

async fn next_stop(session: &mut Session) -> pb::StopTasks {
    loop {
        match session.next().await.kind {
            Some(pb::broker_message::Kind::Stop(stop)) => return stop,
            Some(pb::broker_message::Kind::Extended(_)) => {}
            other => panic!("expected a stop, got {other:?}"),
        }
    }
}

async fn start(session: &Session, task: &pb::LeasedTask) {
    let started = pb::Started {
        tasks: vec![pb::StartedTask {
            task_id: task.task_id.clone(),
            lease_id: task.lease_id,
        }],
    };
    session
        .to_broker
        .send(msg(pb::worker_message::Kind::Started(started)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_start_after_the_expiry_is_refused_and_the_worker_told_at_once() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let expires_at = SystemTime::now() + Duration::from_millis(200);
    let handle = client
        .enqueue(Task::new("t").queue("q").expires_at(expires_at))
        .await
        .unwrap();
    let mut session = open(&broker, &["q"]).await;
    session.credit(1).await;
    let pushed = session.tasks(1).await.remove(0);
    let expected_ms = expires_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(
        u128::try_from(pushed.expires_at_unix_ms).unwrap(),
        expected_ms,
        "the expiry travels with the leased task"
    );
    let passed = wait_until(
        SOON,
        || async { SystemTime::now() },
        |now| *now > expires_at,
    )
    .await;
    assert!(passed.is_ok());

    start(&session, &pushed).await;
    let stop = next_stop(&mut session).await;
    assert_eq!(stop.tasks.len(), 1, "{stop:?}");
    assert_eq!(stop.tasks[0].lease_id, pushed.lease_id);
    assert_eq!(stop.tasks[0].state(), pb::TaskState::Expired);
    assert!(stop.tasks[0].reason.contains("expired"), "{stop:?}");
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Expired);
    assert_eq!(status.attempts, 0, "it never ran: {status:?}");
}

#[tokio::test]
async fn revoking_a_pushed_task_tells_its_session_at_once() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let mut session = open(&broker, &["q"]).await;
    session.credit(1).await;
    let pushed = session.tasks(1).await.remove(0);

    client.revoke(&[&handle.id]).await.unwrap();
    let stop = next_stop(&mut session).await;
    assert_eq!(stop.tasks.len(), 1, "{stop:?}");
    assert_eq!(
        (stop.tasks[0].task_id.as_str(), stop.tasks[0].lease_id),
        (handle.id.as_str(), pushed.lease_id)
    );
    assert_eq!(stop.tasks[0].state(), pb::TaskState::Revoked);

    // A start sent before the notice arrived is refused in turn, and said so.
    start(&session, &pushed).await;
    let again = next_stop(&mut session).await;
    assert_eq!(again.tasks[0].state(), pb::TaskState::Revoked, "{again:?}");
}
