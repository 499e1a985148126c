//! `stalk queues` and `stalk tasks`: aligned tables for people, JSON for scripts, tasks in the
//! order they will be leased, and paging with the token the previous page printed.

use std::time::Duration;

use stalk_client::{Client, Task};
use stalk_testkit::TestBroker;

use crate::support::{lease_one, Stalk};

/// Queue `alpha`: 2 ready, 1 scheduled. Queue `beta`: 1 leased, 1 dead.
async fn two_queues(client: &Client) {
    for id in ["a1", "a2"] {
        client
            .enqueue(Task::new("t").queue("alpha").id(id))
            .await
            .unwrap();
    }
    client
        .enqueue(
            Task::new("t")
                .queue("alpha")
                .countdown(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    for id in ["b1", "b2"] {
        client
            .enqueue(Task::new("t").queue("beta").id(id).max_retries(0))
            .await
            .unwrap();
    }
    let dead = lease_one(client, "beta").await;
    client
        .ack_failure(&dead, "E", "boom", true, None)
        .await
        .unwrap();
    lease_one(client, "beta").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_shows_a_table_and_a_json_list() {
    let broker = TestBroker::start().await;
    two_queues(&broker.client().await).await;
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["queues"]).await;
    assert_eq!(
        run.stdout,
        "QUEUE  READY  SCHEDULED  LEASED  RETRYING  DEAD  WAITING\n\
         alpha  2      1          0       0         0     0\n\
         beta   0      0          1       0         1     0\n",
        "{run}"
    );

    let run = stalk.ok(&["--json", "queues"]).await;
    let mut listed = run.json();
    // alpha has READY tasks: since when the oldest waits (a time of this run); beta has none.
    let oldest = listed[0]
        .as_object_mut()
        .and_then(|alpha| alpha.remove("oldest_ready_at"));
    assert!(
        oldest.as_ref().is_some_and(serde_json::Value::is_string),
        "{run}"
    );
    assert_eq!(
        listed,
        serde_json::json!([
            {"queue": "alpha", "ready": 2, "scheduled": 1, "leased": 0, "retrying": 0, "dead": 0, "waiting": 0, "paused": false},
            {"queue": "beta", "ready": 0, "scheduled": 0, "leased": 1, "retrying": 0, "dead": 1, "waiting": 0, "paused": false, "oldest_ready_at": null},
        ]),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_pause_and_resume_and_the_table_says_which_is_paused() {
    let broker = TestBroker::start().await;
    two_queues(&broker.client().await).await;
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.ok(&["queues", "pause", "alpha"]).await;
    run.stdout_has("paused alpha: it leases nothing until `stalk queues resume alpha`\n");
    stalk
        .ok(&["queues", "pause", "alpha"])
        .await
        .stdout_has("alpha was already paused\n");
    let run = stalk.ok(&["queues"]).await;
    assert_eq!(
        run.stdout,
        "QUEUE           READY  SCHEDULED  LEASED  RETRYING  DEAD  WAITING\n\
         alpha (paused)  2      1          0       0         0     0\n\
         beta            0      0          1       0         1     0\n",
        "{run}"
    );
    let run = stalk.ok(&["--json", "queues", "resume", "alpha"]).await;
    assert_eq!(
        run.json(),
        serde_json::json!({"queue": "alpha", "paused": false, "changed": true})
    );
    let run = stalk.ok(&["--json", "queues"]).await;
    assert_eq!(run.json()[0]["paused"], false, "{run}");
    stalk.expect(1, &["queues", "pause", "no spaces"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_of_an_empty_broker_is_just_the_header() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let run = stalk.ok(&["queues"]).await;
    assert_eq!(
        run.stdout, "QUEUE  READY  SCHEDULED  LEASED  RETRYING  DEAD  WAITING\n",
        "{run}"
    );
    assert_eq!(
        stalk.ok(&["--json", "queues"]).await.json(),
        serde_json::json!([])
    );
}

/// Enqueues ids p0..p5 where p1 and p4 have priority 9; lease order is p1 p4 p0 p2 p3 p5.
async fn six_tasks(client: &Client) -> Vec<&'static str> {
    for (i, id) in ["p0", "p1", "p2", "p3", "p4", "p5"].into_iter().enumerate() {
        let priority = if i % 3 == 1 { 9 } else { 0 };
        client
            .enqueue(Task::new("t").queue("q").id(id).priority(priority))
            .await
            .unwrap();
    }
    vec!["p1", "p4", "p0", "p2", "p3", "p5"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_pages_through_ready_tasks_in_lease_order_as_json() {
    let broker = TestBroker::start().await;
    let expected = six_tasks(&broker.client().await).await;
    let stalk = Stalk::for_broker(&broker);
    let mut seen: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for page in 1.. {
        assert!(
            page <= 3,
            "six tasks in pages of 4 take two pages: {seen:?}"
        );
        let mut args = vec![
            "--json", "tasks", "--queue", "q", "--state", "ready", "--limit", "4",
        ];
        if let Some(token) = &token {
            args.extend(["--page-token", token.as_str()]);
        }
        let run = stalk.ok(&args).await;
        let doc = run.json();
        let tasks = doc["tasks"].as_array().unwrap_or_else(|| panic!("{run}"));
        assert!(tasks.len() <= 4, "--limit 4\n{run}");
        for task in tasks {
            assert_eq!(task["state"], "READY", "{run}");
            seen.push(task["id"].as_str().unwrap().to_owned());
        }
        match doc["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => {
                assert!(doc["next_page_token"].is_null(), "{run}");
                break;
            }
        }
    }
    assert_eq!(seen, expected, "priority first, FIFO within a priority");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_table_names_the_token_for_the_next_page_on_stderr() {
    let broker = TestBroker::start().await;
    let expected = six_tasks(&broker.client().await).await;
    let stalk = Stalk::for_broker(&broker);
    let ids_in = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .skip(1)
            .map(|line| {
                line.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };

    let first = stalk
        .ok(&["tasks", "--queue", "q", "--state", "ready", "--limit", "4"])
        .await;
    assert!(
        first
            .stdout
            .starts_with("ID  NAME  STATE  PRI  ATTEMPTS  ENQUEUED"),
        "a header line\n{first}"
    );
    assert_eq!(ids_in(&first.stdout), expected[..4], "{first}");
    let token = first
        .stderr
        .strip_prefix("more tasks: add --page-token ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("expected the next-page hint on stderr\n{first}"));

    let second = stalk
        .ok(&[
            "tasks",
            "--queue",
            "q",
            "--limit",
            "4",
            "--page-token",
            token,
        ])
        .await;
    assert_eq!(ids_in(&second.stdout), expected[4..], "{second}");
    assert!(
        second.stderr.is_empty(),
        "the last page has no hint\n{second}"
    );
}

/// Issue 11 (B6): `stalk tasks QUEUE` takes the queue as an argument, as the README shows, and
/// the table says what each waiting task waits for: the limit that held it back at its last
/// lease attempt (a rate limit with the time it has room again), or its ETA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_takes_the_queue_as_an_argument_and_says_what_each_task_waits_for() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let stalk = Stalk::for_broker(&broker);
    stalk.ok(&["limits", "set", "task:t", "1/h"]).await;
    for id in ["first", "held"] {
        client
            .enqueue(Task::new("t").queue("q").id(id))
            .await
            .unwrap();
    }
    lease_one(&client, "q").await;
    // This lease finds the rate limit's only token taken: `held` stays READY, held back.
    let leased = client
        .lease(stalk_client::LeaseOptions::new(["q"]))
        .await
        .unwrap();
    assert!(leased.is_empty(), "the rate limit holds `held`: {leased:?}");
    client
        .enqueue(
            Task::new("t")
                .queue("q")
                .id("later")
                .countdown(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    client
        .enqueue(Task::new("u").queue("free").id("free"))
        .await
        .unwrap();

    let run = stalk.ok(&["tasks", "q"]).await;
    let held = row_of(&run.stdout, "held");
    assert!(
        run.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .contains("WAITING FOR"),
        "{run}"
    );
    assert!(
        held.contains("rate limit task:t until 20"),
        "the limit and when\n{run}"
    );
    let run = stalk.ok(&["tasks", "q", "--state", "scheduled"]).await;
    assert!(
        row_of(&run.stdout, "later").contains("its ETA, 20"),
        "{run}"
    );
    let run = stalk.ok(&["tasks", "--queue", "free"]).await;
    assert!(
        !run.stdout.contains("WAITING FOR"),
        "nothing known holds `free`\n{run}"
    );
    row_of(&run.stdout, "free");

    stalk.expect(2, &["tasks"]).await.stderr_has("QUEUE");
}

/// The line of `stdout` whose first column is `id`.
fn row_of<'a>(stdout: &'a str, id: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row for {id}:\n{stdout}"))
}

/// Issue 11 (B6): `--json`, which applies to every command, also works after the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_options_work_after_the_command() {
    let broker = TestBroker::start().await;
    two_queues(&broker.client().await).await;
    let stalk = Stalk::for_broker(&broker);
    let run = stalk.ok(&["queues", "--json"]).await;
    assert_eq!(run.json()[0]["queue"], "alpha", "{run}");
    let run = stalk.ok(&["tasks", "alpha", "--json"]).await;
    assert_eq!(run.json()["tasks"][0]["id"], "a1", "{run}");
}
