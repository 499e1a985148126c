//! Bad input: every refusal has the right code and names the field; nothing is stored or lost.

use stalk_client::Client;
use stalk_proto::v1 as pb;
use stalk_proto::v1::task_queue_client::TaskQueueClient;
use stalk_testkit::TestBroker;
use tonic::Code;

async fn raw(broker: &TestBroker) -> TaskQueueClient<tonic::transport::Channel> {
    TaskQueueClient::connect(broker.url())
        .await
        .expect("connect")
}

fn spec(name: &str) -> pb::TaskSpec {
    pb::TaskSpec {
        name: name.into(),
        ..pb::TaskSpec::default()
    }
}

async fn enqueue_error(broker: &TestBroker, task: pb::TaskSpec) -> pb::Error {
    let response = raw(broker)
        .await
        .enqueue(pb::EnqueueRequest {
            tasks: vec![task],
            ..Default::default()
        })
        .await
        .expect("a batch with a bad task still answers OK")
        .into_inner();
    response.outcomes[0]
        .error
        .clone()
        .expect("the task is refused")
}

#[tokio::test]
async fn bad_tasks_are_refused_with_the_field_named() {
    let broker = TestBroker::start_with(|c| c.max_payload_bytes = 1024).await;
    let cases: Vec<(pb::TaskSpec, &str, &str)> = vec![
        (spec(""), "INVALID_ARGUMENT", "tasks[0].name"),
        (spec(&"x".repeat(201)), "INVALID_ARGUMENT", "tasks[0].name"),
        (spec("has space"), "INVALID_ARGUMENT", "tasks[0].name"),
        (
            pb::TaskSpec {
                priority: 10,
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].priority",
        ),
        (
            pb::TaskSpec {
                payload: vec![0; 1025].into(),
                ..spec("t")
            },
            "RESOURCE_EXHAUSTED",
            "tasks[0].payload",
        ),
        (
            pb::TaskSpec {
                queue: "bad queue".into(),
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].queue",
        ),
        (
            pb::TaskSpec {
                task_id: "a b".into(),
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].task_id",
        ),
        (
            pb::TaskSpec {
                lease_duration_ms: 5,
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].lease_duration_ms",
        ),
        (
            pb::TaskSpec {
                max_retries: 5000,
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].max_retries",
        ),
        (
            pb::TaskSpec {
                max_lost_attempts: 101,
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].max_lost_attempts",
        ),
        (
            pb::TaskSpec {
                eta_unix_ms: -5,
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "tasks[0].eta_unix_ms",
        ),
        (
            pb::TaskSpec {
                expires_at_unix_ms: 1,
                ..spec("t")
            },
            "INVALID_ARGUMENT",
            "expires",
        ),
    ];
    for (task, kind, field) in cases {
        let err = enqueue_error(&broker, task.clone()).await;
        assert_eq!(err.kind, kind, "{task:?} -> {err:?}");
        assert!(
            err.message.contains(field),
            "{task:?} -> {err:?} should name {field}"
        );
    }
    let client = broker.client().await;
    assert!(
        client.queue_stats(&[]).await.unwrap().is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn malformed_calls_get_invalid_argument() {
    let broker = TestBroker::start().await;
    let mut raw = raw(&broker).await;
    let empty = raw
        .enqueue(pb::EnqueueRequest {
            tasks: vec![],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().contains("tasks"), "{}", empty.message());
    let too_many = raw
        .enqueue(pb::EnqueueRequest {
            tasks: vec![spec("t"); 1001],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    let no_queues = raw.lease(pb::LeaseRequest::default()).await.unwrap_err();
    assert_eq!(no_queues.code(), Code::InvalidArgument);
    let long_wait = raw
        .lease(pb::LeaseRequest {
            queues: vec!["q".into()],
            wait_ms: 3_600_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        long_wait.message().contains("wait_ms"),
        "{}",
        long_wait.message()
    );
    let no_outcome = raw
        .ack(pb::AckRequest {
            add: Vec::new(),
            task_id: "t".into(),
            lease_id: 1,
            outcome: None,
        })
        .await
        .unwrap_err();
    assert_eq!(no_outcome.code(), Code::InvalidArgument);
    let no_lease = raw
        .ack(pb::AckRequest {
            add: Vec::new(),
            task_id: "t".into(),
            lease_id: 0,
            outcome: Some(pb::ack_request::Outcome::Success(pb::TaskResult::default())),
        })
        .await
        .unwrap_err();
    assert!(
        no_lease.message().contains("lease_id"),
        "{}",
        no_lease.message()
    );
    let empty_failure = raw
        .ack(pb::AckRequest {
            add: Vec::new(),
            task_id: "t".into(),
            lease_id: 1,
            outcome: Some(pb::ack_request::Outcome::Failure(pb::Failure::default())),
        })
        .await
        .unwrap_err();
    assert!(
        empty_failure.message().contains("failure.error"),
        "{}",
        empty_failure.message()
    );
    let lost_and_fatal = raw
        .ack(pb::AckRequest {
            add: Vec::new(),
            task_id: "t".into(),
            lease_id: 1,
            outcome: Some(pb::ack_request::Outcome::Failure(pb::Failure {
                error: Some(pb::Error {
                    kind: "WorkerLost".into(),
                    message: "killed".into(),
                }),
                fatal: true,
                lost: true,
                ..pb::Failure::default()
            })),
        })
        .await
        .unwrap_err();
    assert!(
        lost_and_fatal.message().contains("failure.lost"),
        "{}",
        lost_and_fatal.message()
    );
    let both_times = raw
        .nack(pb::NackRequest {
            task_id: "t".into(),
            lease_id: 1,
            action: Some(pb::nack_request::Action::Requeue(pb::Requeue {
                delay_ms: 5,
                at_unix_ms: 1_700_000_000_000,
            })),
        })
        .await
        .unwrap_err();
    assert!(
        both_times.message().contains("requeue.at_unix_ms"),
        "{}",
        both_times.message()
    );
    let bad_id = raw
        .get_result(pb::GetResultRequest {
            task_id: "".into(),
            wait_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn admin_calls_validate_too() {
    let broker = TestBroker::start().await;
    let client: Client = broker.client().await;
    let err = client.purge_queue("bad queue", false).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    let mut admin = stalk_proto::v1::admin_client::AdminClient::connect(broker.url())
        .await
        .unwrap();
    let err = admin
        .list_tasks(pb::ListTasksRequest {
            queue: "q".into(),
            state: pb::TaskState::Ready.into(),
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("page_token"), "{}", err.message());
    let err = admin
        .list_tasks(pb::ListTasksRequest {
            queue: "q".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("state"), "{}", err.message());
}
