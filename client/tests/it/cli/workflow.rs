//! `stalk workflow submit FILE` and `stalk workflow show ID`: a chord submitted from JSON, its
//! tree drawn with each task's state and result, and bad files refused before any call.

use stalk_client::{LeaseOptions, TaskState};
use stalk_testkit::TestBroker;

use crate::support::Stalk;

const CHORD: &str = r#"{"chord": {
    "header": [
        {"task": "add", "queue": "math", "args": [1]},
        {"chain": [{"task": "add", "queue": "math", "args": [2]},
                   {"task": "add", "queue": "math", "args": [3]}]}
    ],
    "body": {"task": "report", "queue": "math", "immutable": true, "args": {"to": "ops"}},
    "policy": "wait_all"
}, "link_error": [{"task": "alert", "queue": "math"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_file_is_submitted_and_its_tree_drawn_with_states() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chord.json");
    std::fs::write(&file, CHORD).unwrap();

    let submitted = stalk
        .ok(&["--json", "workflow", "submit", file.to_str().unwrap()])
        .await
        .json();
    let id = submitted["workflow_id"].as_str().expect("an id").to_owned();
    let task_ids: Vec<String> = submitted["task_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(task_ids.len(), 5);

    // The first member runs and succeeds; the chain's first step waits its turn.
    let client = broker.client().await;
    let leased = client
        .lease(LeaseOptions {
            max_tasks: 1,
            ..LeaseOptions::new(["math"])
        })
        .await
        .unwrap();
    assert_eq!(leased[0].id, task_ids[0]);
    client.ack_json(&leased[0], &1).await.unwrap();

    let shown = stalk.ok(&["workflow", "show", &id]).await;
    let expected = format!(
        "workflow {id} (running)\n\
         \x20 chord\n\
         \x20   header\n\
         \x20     add  {}  SUCCEEDED  = 1\n\
         \x20     chain\n\
         \x20       add  {}  READY\n\
         \x20       add  {}  WAITING\n\
         \x20   body\n\
         \x20     report  {}  WAITING\n\
         \x20 callbacks\n\
         \x20   alert  {}  WAITING\n",
        task_ids[0], task_ids[1], task_ids[2], task_ids[3], task_ids[4]
    );
    assert_eq!(shown.stdout, expected, "{shown}");

    let doc = stalk.ok(&["--json", "workflow", "show", &id]).await.json();
    assert_eq!(doc["finished"], false);
    assert_eq!(doc["tree"]["chord"]["header"][0]["result"], 1);
    assert_eq!(
        doc["tree"]["chord"]["body"]["state"],
        TaskState::Waiting.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_workflow_files_and_ids_are_refused_with_what_is_wrong() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    let path = file.to_str().unwrap();
    for (text, says) in [
        ("{", "is not JSON"),
        (
            r#"{"chain": [{"task": "a"}, {"tasks": "b"}]}"#,
            "workflow.chain[1]: expected one of",
        ),
        (
            r#"{"task": "a", "retries": 3}"#,
            "workflow.retries: unknown",
        ),
        (
            r#"{"chord": {"header": []}}"#,
            "workflow.chord: expected a body",
        ),
        (
            r#"{"chord": {"header": [{"task": "a"}], "body": {"task": "b"}, "policy": "maybe"}}"#,
            "workflow.chord.policy: expected fail_fast, wait_all or partial",
        ),
        (
            r#"{"task": "a", "link_error": [{"chain": []}]}"#,
            "workflow.link_error[0]: expected a task",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        stalk
            .expect(2, &["workflow", "submit", path])
            .await
            .stderr_has(says);
    }
    // The broker's own checks: an empty chain.
    std::fs::write(&file, r#"{"chain": []}"#).unwrap();
    stalk
        .expect(1, &["workflow", "submit", path])
        .await
        .stderr_has("a chain needs at least one step");
    // Exit code 4, as for an unknown task.
    stalk
        .expect(4, &["workflow", "show", "nope"])
        .await
        .stderr_has("no workflow has id \"nope\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_replaced_itself_is_drawn_with_its_replacement() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let client = broker.client().await;
    let task = |n: i64| {
        stalk_client::Task::new("add")
            .queue("math")
            .json(&[n])
            .unwrap()
    };
    let id = client.enqueue(task(1)).await.unwrap().id;
    let leased = client.lease(LeaseOptions::new(["math"])).await.unwrap();
    client
        .ack_replace(&leased[0], stalk_client::group([task(2), task(3)]))
        .await
        .unwrap();
    let status = client.workflow(&id).await.unwrap();
    let (two, three) = (&status.tasks[1].id, &status.tasks[2].id);

    let shown = stalk.ok(&["workflow", "show", &id]).await;
    let expected = format!(
        "workflow {id} (running)\n\
         \x20 add  {id}  WAITING\n\
         \x20   replaced by\n\
         \x20     group\n\
         \x20       add  {two}  READY\n\
         \x20       add  {three}  READY\n"
    );
    assert_eq!(shown.stdout, expected, "{shown}");
    let doc = stalk.ok(&["--json", "workflow", "show", &id]).await.json();
    assert_eq!(doc["tree"]["replaced_by"]["group"][1]["id"], three.as_str());
}
