//! Conversions: every field the broker sends arrives in the client's types (`TaskHandle`,
//! `LeasedTask`, `TaskStatus`, `TaskSummary`, `ClientError::Rejected`), with times as
//! `SystemTime` and "not set" as `None`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use stalk_client::{ClientError, Task, TaskFailure, TaskHandle, TaskResult, TaskState};
use stalk_testkit::TestBroker;
use tonic::Code;

use crate::support::{assert_near, lease_one};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_leased_task_carries_every_field_the_producer_set() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let before = SystemTime::now();
    let handle = client
        .enqueue(
            Task::new("report.build")
                .queue("reports")
                .payload(vec![0, 159, 255], "application/octet-stream")
                .header("tenant", "acme")
                .header("trace", "a=b")
                .priority(7)
                .id("r-1")
                .max_retries(4)
                .lease_duration(Duration::from_secs(45)),
        )
        .await
        .expect("enqueue");
    assert_eq!(
        handle,
        TaskHandle {
            id: "r-1".into(),
            created: true,
            state: TaskState::Ready
        }
    );
    let task = lease_one(&client, "reports").await;
    let leased_at = SystemTime::now();
    assert_eq!(
        (task.id.as_str(), task.name.as_str(), task.queue.as_str()),
        ("r-1", "report.build", "reports")
    );
    assert_eq!(
        task.payload,
        &[0u8, 159, 255][..],
        "binary payloads arrive unchanged"
    );
    assert_eq!(task.content_type, "application/octet-stream");
    let headers: HashMap<String, String> = [("tenant", "acme"), ("trace", "a=b")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(task.headers, headers);
    assert_eq!(task.priority, 7, "priority");
    assert_ne!(task.lease_id, 0, "a lease id is never 0 on the wire");
    assert_eq!(task.attempt, 1, "first delivery");
    assert_eq!(task.retries_left, 4, "retries left");
    assert_near("enqueued_at", task.enqueued_at, before);
    assert_near(
        "lease_deadline (the task's own 45 s lease)",
        task.lease_deadline,
        leased_at + Duration::from_secs(45),
    );
}

#[tokio::test]
async fn a_status_reports_the_times_result_and_error_of_each_state() {
    let broker = TestBroker::start_with(|c| c.result_ttl = HOUR).await;
    let client = broker.client().await;
    let now = SystemTime::now();

    let later = client
        .enqueue(Task::new("t").queue("q").id("later").countdown(HOUR))
        .await
        .unwrap();
    assert_eq!(later.state, TaskState::Scheduled, "{later:?}");
    let status = client.result("later", None).await.unwrap();
    assert_eq!(
        (
            status.id.as_str(),
            status.name.as_str(),
            status.queue.as_str()
        ),
        ("later", "t", "q")
    );
    assert_eq!((status.state, status.attempts), (TaskState::Scheduled, 0));
    assert_near("scheduled: enqueued_at", status.enqueued_at, now);
    assert_near("scheduled: due_at", status.due_at, now + HOUR);
    assert_eq!(
        (
            status.started_at,
            status.finished_at,
            status.result_expires_at
        ),
        (None, None, None),
        "a waiting task has not started or finished: {status:?}"
    );
    assert_eq!((&status.result, &status.error), (&None, &None));

    client
        .enqueue(Task::new("t").queue("q").id("flaky"))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    let state = client
        .ack_failure(&task, "IOError", "disk full", false, Some(HOUR))
        .await
        .unwrap();
    assert_eq!(state, TaskState::Retrying);
    let status = client.result("flaky", None).await.unwrap();
    assert_eq!((status.state, status.attempts), (TaskState::Retrying, 1));
    assert_eq!(
        status.error,
        Some(TaskFailure {
            kind: "IOError".into(),
            message: "disk full".into()
        })
    );
    assert_near("retrying: started_at", status.started_at, now);
    assert_near("retrying: due_at", status.due_at, now + HOUR);

    client
        .enqueue(Task::new("t").queue("q").id("nacked"))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    let state = client.nack_requeue(&task, HOUR).await.unwrap();
    assert_eq!(state, TaskState::Scheduled, "a delayed requeue waits");
    let status = client.result("nacked", None).await.unwrap();
    assert_near("requeued: due_at", status.due_at, now + HOUR);

    client
        .enqueue(Task::new("t").queue("q").id("done"))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    let state = client
        .ack_success(&task, b"\x00raw".to_vec(), "application/x-raw")
        .await
        .unwrap();
    assert_eq!(state, TaskState::Succeeded);
    let status = client.result("done", None).await.unwrap();
    assert_eq!(
        status.result,
        Some(TaskResult {
            value: b"\x00raw".to_vec().into(),
            content_type: "application/x-raw".into()
        })
    );
    assert_eq!(status.error, None, "{status:?}");
    assert_near("succeeded: finished_at", status.finished_at, now);
    assert_near(
        "succeeded: result_expires_at (the 1 h TTL)",
        status.result_expires_at,
        now + HOUR,
    );
}

#[tokio::test]
async fn listings_summarise_each_task_with_its_error_and_due_time() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let now = SystemTime::now();
    client
        .enqueue(
            Task::new("parse")
                .queue("q")
                .id("dead")
                .json(&serde_json::json!({"n": 1}))
                .unwrap()
                .priority(3)
                .max_retries(0),
        )
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    client
        .ack_failure(&task, "ValueError", "bad input", false, None)
        .await
        .unwrap();
    let (dead, next) = client
        .list_tasks("q", TaskState::Failed, 10, None)
        .await
        .unwrap();
    assert_eq!(next, None, "one page");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let summary = &dead[0];
    assert_eq!(
        (
            summary.id.as_str(),
            summary.name.as_str(),
            summary.queue.as_str()
        ),
        ("dead", "parse", "q")
    );
    assert_eq!(
        (summary.state, summary.priority, summary.attempts),
        (TaskState::Failed, 3, 1)
    );
    assert_eq!(summary.payload_size, 7, "the size of {{\"n\":1}}");
    assert_eq!(
        summary.error,
        Some(TaskFailure {
            kind: "ValueError".into(),
            message: "bad input".into()
        })
    );
    assert_near("failed: enqueued_at", summary.enqueued_at, now);
    assert_eq!(summary.due_at, None, "a dead letter is due never");

    client
        .enqueue(Task::new("t").queue("q").id("held"))
        .await
        .unwrap();
    let held = lease_one(&client, "q").await;
    let (leased, _) = client
        .list_tasks("q", TaskState::Leased, 10, None)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1, "{leased:?}");
    assert_eq!(
        leased[0].due_at, held.lease_deadline,
        "a leased task is due at its lease deadline"
    );

    client
        .enqueue(Task::new("t").queue("q").id("later").countdown(HOUR))
        .await
        .unwrap();
    let (scheduled, _) = client
        .list_tasks("q", TaskState::Scheduled, 10, None)
        .await
        .unwrap();
    assert_eq!(scheduled.len(), 1, "{scheduled:?}");
    assert_near("scheduled: due_at", scheduled[0].due_at, now + HOUR);
}

#[tokio::test]
async fn a_refused_task_keeps_the_id_it_was_given_and_its_code() {
    let broker = TestBroker::start_with(|c| c.max_payload_bytes = 16).await;
    let client = broker.client().await;
    let outcomes = client
        .enqueue_many([
            Task::new("ok").id("fine"),
            Task::new("bad name").id("mine"),
            Task::new("big").payload(vec![0; 17], "application/octet-stream"),
        ])
        .await
        .expect("a batch with refused tasks still succeeds as a call");
    assert_eq!(outcomes.len(), 3, "one outcome per task: {outcomes:?}");
    assert!(
        matches!(&outcomes[0], Ok(h) if h.id == "fine" && h.created),
        "{:?}",
        outcomes[0]
    );
    let err = outcomes[1].as_ref().expect_err("a name with a space");
    assert!(
        matches!(err, ClientError::Rejected { task_id: Some(id), kind, message }
            if id == "mine" && kind == "INVALID_ARGUMENT" && message.contains("tasks[1].name")),
        "{err:?}"
    );
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
    let err = outcomes[2].as_ref().expect_err("a payload over 16 bytes");
    assert!(
        matches!(err, ClientError::Rejected { task_id: None, .. }),
        "no id was given, none is invented: {err:?}"
    );
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");

    let err = client
        .enqueue(Task::new("bad name"))
        .await
        .expect_err("a single refused task is an error");
    assert!(matches!(err, ClientError::Rejected { .. }), "{err:?}");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
}
