//! `stalk result`: a finished task's state and result (text and JSON); `--wait` returns when a
//! worker acks; a task that ends FAILED exits 1, an unknown id 4, a wait that runs out 5.

use stalk_client::Task;
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{lease_one, Stalk, SOON};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_shows_a_finished_task_and_its_json_result() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("add").queue("q").id("sum-1"))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    client
        .ack_json(&task, &serde_json::json!({"sum": 5}))
        .await
        .unwrap();
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["result", &handle.id]).await;
    run.stdout_has("id         sum-1\n")
        .stdout_has("state      SUCCEEDED\n")
        .stdout_has("name       add\n")
        .stdout_has("attempts   1\n")
        .stdout_has("result     (application/json)\n{\n  \"sum\": 5\n}\n");
    assert!(run.stderr.is_empty(), "{run}");

    let run = stalk.ok(&["--json", "result", &handle.id]).await;
    let doc = run.json();
    assert_eq!(doc["state"], "SUCCEEDED", "{run}");
    assert_eq!(
        doc["result"],
        serde_json::json!({"sum": 5}),
        "a JSON result is embedded as a document\n{run}"
    );
    assert_eq!(doc["result_content_type"], "application/json", "{run}");
    assert!(doc["finished_at"].is_string(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_wait_returns_when_a_worker_acks() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let cli = {
        let stalk = Stalk::for_broker(&broker);
        let id = handle.id.clone();
        tokio::spawn(async move { stalk.run(&["result", &id, "--wait", "5s"]).await })
    };
    // Ack only once the CLI's long poll sits in the broker, so the CLI has to be woken by it.
    let polls = wait_until(SOON, || async { broker.broker().long_polls() }, |n| *n == 1).await;
    assert_eq!(polls, Ok(1), "the CLI's --wait became a long poll");
    let task = lease_one(&client, "q").await;
    client.ack_json(&task, &[1, 2, 3]).await.unwrap();
    let run = cli.await.unwrap();
    assert_eq!(
        run.code,
        Some(0),
        "the task succeeded while waited for\n{run}"
    );
    run.stdout_has("state      SUCCEEDED\n")
        .stdout_has("[\n  1,\n  2,\n  3\n]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_wait_of_a_failed_task_exits_1_with_its_error() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("t").queue("q").max_retries(0))
        .await
        .unwrap();
    let task = lease_one(&client, "q").await;
    client
        .ack_failure(&task, "ValueError", "bad input\n  at line 3", false, None)
        .await
        .unwrap();
    let stalk = Stalk::for_broker(&broker);
    let run = stalk
        .expect(1, &["result", &handle.id, "--wait", "5s"])
        .await;
    run.stdout_has("state      FAILED\n")
        .stdout_has("error      ValueError: bad input at line 3\n")
        .one_line_error()
        .stderr_has(&format!(
            "task {} ended FAILED: ValueError: bad input at line 3",
            handle.id
        ));

    // Without --wait nobody asked for a success: showing a failed task is not an error.
    stalk.ok(&["result", &handle.id]).await.stdout_has("FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_of_an_unknown_id_exits_4() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    for args in [
        &["result", "no-such-task"][..],
        &["result", "no-such-task", "--wait", "30s"],
    ] {
        let run = stalk.expect(4, args).await;
        run.one_line_error()
            .stderr_has("no record of task no-such-task");
        assert!(run.stdout.is_empty(), "{run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_runs_out_exits_5_naming_the_state() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let run = Stalk::for_broker(&broker)
        .expect(5, &["result", &handle.id, "--wait", "300ms"])
        .await;
    run.one_line_error().stderr_has("still READY after waiting");
    assert!(run.stdout.is_empty(), "{run}");
}

/// Regression: `--wait` with the largest number of seconds overflowed `Instant` and panicked
/// (exit 101).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_wait_is_not_a_panic() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("t").queue("q")).await.unwrap();
    let task = lease_one(&client, "q").await;
    client.ack_json(&task, &"ok").await.unwrap();
    // The longest wait the duration syntax accepts: u64::MAX ms, as a bare number of seconds.
    let endless = (u64::MAX / 1_000).to_string();
    Stalk::for_broker(&broker)
        .ok(&["result", &handle.id, "--wait", &endless])
        .await
        .stdout_has("SUCCEEDED");
}
