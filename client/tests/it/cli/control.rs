//! `stalk revoke`, `stalk dead list|replay|purge` and `stalk purge`: what each prints, and that
//! the broker changed accordingly.

use std::time::Duration;

use stalk_client::{Client, Task, TaskState};
use stalk_testkit::TestBroker;

use crate::support::{lease_one, Stalk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_reports_each_id_and_exits_4_for_unknown_ones() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for id in ["waiting", "running"] {
        client
            .enqueue(Task::new("t").queue("q").id(id))
            .await
            .unwrap();
    }
    let running = lease_one(&client, "q").await;
    assert_eq!(running.id, "waiting", "FIFO: the first task is leased");
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["revoke", "waiting", "running"]).await;
    assert_eq!(
        run.stdout,
        "ID       STATE    WHAT HAPPENED\n\
         waiting  REVOKED  revoked while running: its worker stops it\n\
         running  REVOKED  revoked while waiting: it never runs\n",
        "{run}"
    );
    for id in ["waiting", "running"] {
        let state = client.result(id, None).await.unwrap().state;
        assert_eq!(state, TaskState::Revoked, "{id}");
    }

    let run = stalk
        .expect(4, &["--json", "revoke", "running", "nope"])
        .await;
    assert_eq!(
        run.json(),
        serde_json::json!([
            {"id": "running", "state": "REVOKED", "was": "finished"},
            {"id": "nope", "state": "UNKNOWN", "was": "unknown"},
        ]),
        "every id is reported, known or not\n{run}"
    );
    run.one_line_error().stderr_has("no record of task nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_by_header_reports_the_tasks_it_revoked_and_refuses_later_ones() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for (id, tenant) in [("a1", "acme"), ("o1", "other")] {
        client
            .enqueue(Task::new("t").queue("q").id(id).header("tenant", tenant))
            .await
            .unwrap();
    }
    let stalk = Stalk::for_broker(&broker);
    let run = stalk
        .ok(&[
            "revoke",
            "--header",
            "tenant=acme",
            "--remember",
            "1h",
            "--json",
        ])
        .await;
    assert_eq!(
        run.json(),
        serde_json::json!({
            "matched": [{"id": "a1", "state": "REVOKED", "was": "waiting"}],
            "matched_count": 1,
        }),
        "{run}"
    );
    let late = client
        .enqueue(Task::new("t").queue("q").id("a2").header("tenant", "acme"))
        .await
        .unwrap();
    assert_eq!(late.state, TaskState::Revoked, "refused on arrival");
    assert_eq!(lease_one(&client, "q").await.id, "o1");
    stalk.expect(2, &["revoke"]).await;
}

/// Fails `ids` fatally on queue `q`, each with error message `bad <id>`.
async fn dead_letters(client: &Client, ids: &[&str]) {
    for id in ids {
        client
            .enqueue(Task::new("parse").queue("q").id(*id))
            .await
            .unwrap();
        let task = lease_one(client, "q").await;
        client
            .ack_failure(&task, "ValueError", format!("bad {id}"), true, None)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_list_shows_dead_letters_with_their_errors() {
    let broker = TestBroker::start().await;
    dead_letters(&broker.client().await, &["d1", "d2", "d3"]).await;
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["dead", "list", "--queue", "q"]).await;
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three dead letters\n{run}");
    assert!(lines[0].ends_with("ERROR"), "an ERROR column\n{run}");
    for (line, id) in lines[1..].iter().zip(["d1", "d2", "d3"]) {
        assert!(
            line.starts_with(&format!("{id}  parse  FAILED"))
                && line.ends_with(&format!("ValueError: bad {id}")),
            "row for {id}: {line:?}\n{run}"
        );
    }
    assert!(run.stderr.is_empty(), "{run}");

    let run = stalk
        .ok(&["--json", "dead", "list", "--queue", "q", "--limit", "2"])
        .await;
    let doc = run.json();
    let ids: Vec<&str> = doc["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{run}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d1", "d2"], "--limit 2\n{run}");
    assert_eq!(doc["more"], true, "a third one is left\n{run}");
    assert_eq!(
        doc["tasks"][0]["error"],
        serde_json::json!({"kind": "ValueError", "message": "bad d1"}),
        "{run}"
    );
    let run = stalk
        .ok(&["dead", "list", "--queue", "q", "--limit", "2"])
        .await;
    run.stderr_has("more dead letters than shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_replay_and_purge_change_the_dead_letters() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    dead_letters(&client, &["d1", "d2", "d3", "d4"]).await;
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["dead", "replay", "--queue", "q", "d2"]).await;
    assert_eq!(run.stdout, "replayed 1 task(s) from q\nd2\n", "{run}");
    let status = client.result("d2", None).await.unwrap();
    assert_eq!(status.state, TaskState::Ready, "replayed: {status:?}");

    let run = stalk
        .ok(&["--json", "dead", "replay", "--queue", "q", "--limit", "1"])
        .await;
    assert_eq!(
        run.json(),
        serde_json::json!({"queue": "q", "replayed": ["d1"]}),
        "the oldest dead letter first\n{run}"
    );

    let run = stalk.ok(&["dead", "purge", "--queue", "q"]).await;
    assert_eq!(run.stdout, "purged 2 dead letter(s) from q\n", "{run}");
    let stats = &client.queue_stats(&["q"]).await.unwrap()[0];
    assert_eq!(
        (stats.dead, stats.ready),
        (0, 2),
        "d3, d4 deleted; d1, d2 ready: {stats:?}"
    );
    assert_eq!(
        client.result("d3", None).await.unwrap().state,
        TaskState::Unknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_waiting_tasks_and_leaves_leased_ones() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("running"))
        .await
        .unwrap();
    lease_one(&client, "q").await;
    for id in ["r1", "r2"] {
        client
            .enqueue(Task::new("t").queue("q").id(id))
            .await
            .unwrap();
    }
    client
        .enqueue(
            Task::new("t")
                .queue("q")
                .id("later")
                .countdown(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["purge", "q"]).await;
    assert_eq!(run.stdout, "purged 3 waiting task(s) from q\n", "{run}");
    let stats = &client.queue_stats(&["q"]).await.unwrap()[0];
    assert_eq!(
        (stats.ready, stats.scheduled, stats.leased),
        (0, 0, 1),
        "{stats:?}"
    );

    let run = stalk.ok(&["--json", "purge", "q"]).await;
    assert_eq!(
        run.json(),
        serde_json::json!({"queue": "q", "purged": 0, "dead_letters": false}),
        "nothing left to purge\n{run}"
    );
}
