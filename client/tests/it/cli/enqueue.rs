//! `stalk enqueue`: the id on stdout (or a JSON document), every option reaching the broker,
//! "exists" for a repeated id, and refusals that name the field.

use std::time::{Duration, SystemTime};

use stalk_client::TaskState;
use stalk_testkit::TestBroker;

use crate::support::{assert_near, lease_one, vacant_addr, Stalk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_prints_the_new_id_and_the_task_is_ready() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let run = stalk
        .ok(&[
            "enqueue",
            "email.send",
            "--queue",
            "mail",
            "--payload",
            r#"{"to":"ada"}"#,
        ])
        .await;
    let id = run
        .stdout
        .strip_prefix("enqueued ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("expected `enqueued <id>`\n{run}"));
    assert!(run.stderr.is_empty(), "nothing on stderr\n{run}");
    let client = broker.client().await;
    let task = lease_one(&client, "mail").await;
    assert_eq!(task.id, id, "the printed id is the task's\n{run}");
    assert_eq!(task.name, "email.send");
    assert_eq!(task.content_type, "application/json");
    assert_eq!(
        task.json::<serde_json::Value>().unwrap(),
        serde_json::json!({"to": "ada"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_json_output_is_one_document_with_id_created_and_state() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let run = stalk.ok(&["--json", "enqueue", "t", "--id", "j-1"]).await;
    assert_eq!(
        run.json(),
        serde_json::json!({"id": "j-1", "created": true, "state": "READY"}),
        "{run}"
    );
    let run = stalk
        .ok(&["--json", "enqueue", "t", "--id", "j-2", "--countdown", "1h"])
        .await;
    assert_eq!(
        run.json()["state"],
        "SCHEDULED",
        "a countdown schedules\n{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_countdown_and_headers_reach_the_broker() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let client = broker.client().await;
    for (id, priority) in [("low", "0"), ("high", "7")] {
        stalk
            .ok(&[
                "enqueue",
                "t",
                "--queue",
                "q",
                "--id",
                id,
                "--priority",
                priority,
                "--header",
                "tenant=acme",
                "--header",
                "trace=a=b",
            ])
            .await;
    }
    let first = lease_one(&client, "q").await;
    assert_eq!(
        (first.id.as_str(), first.priority),
        ("high", 7),
        "--priority 7 is leased first"
    );
    assert_eq!(
        first.headers.get("tenant").map(String::as_str),
        Some("acme")
    );
    assert_eq!(
        first.headers.get("trace").map(String::as_str),
        Some("a=b"),
        "a header value may hold '='"
    );

    let now = SystemTime::now();
    stalk
        .ok(&[
            "enqueue",
            "t",
            "--queue",
            "q",
            "--id",
            "later",
            "--countdown",
            "1h30m",
        ])
        .await;
    let status = client.result("later", None).await.unwrap();
    assert_eq!(status.state, TaskState::Scheduled, "{status:?}");
    assert_near(
        "--countdown 1h30m",
        status.due_at,
        now + Duration::from_secs(5400),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_id_twice_says_exists_and_stores_one_task() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let first = stalk.ok(&["enqueue", "t", "--id", "order-42"]).await;
    assert_eq!(first.stdout, "enqueued order-42\n", "{first}");
    let second = stalk.ok(&["enqueue", "t", "--id", "order-42"]).await;
    assert_eq!(second.stdout, "exists order-42\n", "{second}");
    let third = stalk
        .ok(&["--json", "enqueue", "t", "--id", "order-42"])
        .await;
    assert_eq!(third.json()["created"], false, "{third}");
    let stats = broker.client().await.queue_stats(&[]).await.unwrap();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].ready, 1, "one task, not three: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_file_is_sent_with_its_content_type() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("note.txt");
    std::fs::write(&text, b"not json {").unwrap();
    let text = text.to_str().unwrap();
    Stalk::for_broker(&broker)
        .ok(&[
            "enqueue",
            "t",
            "--queue",
            "q",
            "--payload-file",
            text,
            "--content-type",
            "text/plain",
        ])
        .await;
    let task = lease_one(&broker.client().await, "q").await;
    assert_eq!(task.payload, &b"not json {"[..]);
    assert_eq!(task.content_type, "text/plain");

    // With the default JSON content type the file is checked before connecting: a usage error
    // (2) even though no broker listens at this address (which would be 3).
    let run = Stalk::at(vacant_addr())
        .expect(2, &["enqueue", "t", "--payload-file", text])
        .await;
    run.one_line_error().stderr_has("is not valid JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_the_broker_refuses_exits_1_naming_the_field() {
    let broker = TestBroker::start().await;
    let run = Stalk::for_broker(&broker)
        .expect(1, &["enqueue", "bad name"])
        .await;
    run.one_line_error()
        .stderr_has("INVALID_ARGUMENT")
        .stderr_has("tasks[0].name");
    assert!(run.stdout.is_empty(), "{run}");
    let stats = broker.client().await.queue_stats(&[]).await.unwrap();
    assert!(stats.is_empty(), "nothing was stored: {stats:?}");
}
