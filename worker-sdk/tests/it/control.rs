//! Control commands through the broker to a running worker: `ping` is answered by the control
//! step with the worker's facts; `shutdown` stops it warm; `time_limit` changes the limits later
//! attempts run under; user-defined commands answer with their own text and details; without a
//! control step the broker hears why there is no answer. (Queue and pool changes: `consumers`
//! and `pool_resize`.)

use std::collections::BTreeMap;
use std::time::Duration;

use stalk_client::{Client, ClientError, Task, TaskState, WorkerCommand, WorkerReply};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{CommandReply, Step, StepContext, StepError, TaskError, CONTROL, SESSION};

use crate::support::{spawn, SOON};

const WAIT: Duration = Duration::from_secs(5);

fn noop(w: stalk_worker::WorkerBuilder) -> stalk_worker::WorkerBuilder {
    w.task("noop", |(): ()| async move { Ok::<_, TaskError>(()) })
}

pub(crate) async fn connected(broker: &TestBroker) {
    let client = broker.client().await;
    let listed = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| !w.is_empty(),
    )
    .await;
    assert!(listed.is_ok(), "{listed:?}");
}

#[tokio::test]
async fn ping_is_answered_with_the_workers_facts_and_shutdown_stops_it_warm() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| noop(w).concurrency(3)).await;
    connected(&broker).await;
    let client = broker.client().await;
    let replies = client
        .control_workers(&[], WorkerCommand::Ping, WAIT)
        .await
        .unwrap();
    assert_eq!(replies.len(), 1, "{replies:?}");
    let pong = &replies[0];
    assert_eq!(pong.worker_id, "test-worker");
    assert!(pong.ok, "{pong:?}");
    assert_eq!(pong.message, "pong");
    assert_eq!(pong.details["pool"], "async");
    assert_eq!(pong.details["concurrency"], "3");
    assert_eq!(pong.details["pid"], std::process::id().to_string());
    assert!(pong.latency.is_some());

    let replies = client
        .control_workers(&["test-worker"], WorkerCommand::Shutdown, WAIT)
        .await
        .unwrap();
    assert!(replies[0].ok, "{replies:?}");
    worker.finished().await.unwrap();
    let gone = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        Vec::is_empty,
    )
    .await;
    assert!(gone.is_ok(), "the worker went offline: {gone:?}");
}

/// A control step that does nothing, replacing the built-in.
struct Deaf;

#[stalk_worker::async_trait]
impl Step for Deaf {
    fn name(&self) -> &str {
        CONTROL
    }

    fn requires(&self) -> Vec<String> {
        vec![SESSION.into()]
    }

    async fn start(&mut self, _ctx: &mut StepContext) -> Result<(), StepError> {
        Ok(())
    }
}

#[tokio::test]
async fn without_a_control_step_the_reply_says_so() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| noop(w).step(Deaf)).await;
    connected(&broker).await;
    let client = broker.client().await;
    let replies = client
        .control_workers(&[], WorkerCommand::Ping, WAIT)
        .await
        .unwrap();
    assert!(!replies[0].ok, "{replies:?}");
    assert_eq!(replies[0].message, "this worker runs no control step");
    worker.stop().await.unwrap();
}

/// Sends `command` to every worker and returns the one reply (there is one worker).
pub(crate) async fn ask(client: &Client, command: WorkerCommand) -> WorkerReply {
    let replies = client.control_workers(&[], command, WAIT).await.unwrap();
    assert_eq!(replies.len(), 1, "one worker answers: {replies:?}");
    replies.into_iter().next().unwrap()
}

/// The broker's refusal of a malformed command: INVALID_ARGUMENT, with its message.
pub(crate) async fn refused(client: &Client, command: WorkerCommand) -> String {
    match client.control_workers(&[], command.clone(), WAIT).await {
        Err(ClientError::Status { code, message }) => {
            assert_eq!(code, tonic::Code::InvalidArgument, "{command:?}: {message}");
            message
        }
        other => panic!("{command:?} should be refused by the broker: {other:?}"),
    }
}

#[tokio::test]
async fn time_limit_makes_later_attempts_of_that_task_fail_at_the_new_limit() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        w.task("nap", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, TaskError>(ms)
        })
    })
    .await;
    connected(&broker).await;
    let client = broker.client().await;
    let nap = |ms: u64| Task::new("nap").json(&ms).unwrap().max_retries(0);
    let before = client.enqueue(nap(300)).await.unwrap();
    let status = before.wait(&client, SOON).await.unwrap();
    assert_eq!(
        status.state,
        TaskState::Succeeded,
        "no limit yet: {status:?}"
    );

    let limit = WorkerCommand::TimeLimit {
        task_name: "nap".into(),
        hard: Duration::from_millis(200),
        soft: Some(Duration::from_millis(100)),
    };
    let reply = ask(&client, limit).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(
        reply.message,
        "time limits of \"nap\" are now hard 200ms, soft 100ms"
    );

    let after = client.enqueue(nap(600_000)).await.unwrap();
    let status = after.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Failed, "{status:?}");
    assert_eq!(
        status.error.map(|e| e.kind).as_deref(),
        Some("TimeLimitExceeded"),
        "stopped by the limit set through the control command"
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn time_limit_for_a_task_the_worker_cannot_run_is_answered_no_and_bad_ones_are_refused() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, noop).await;
    connected(&broker).await;
    let client = broker.client().await;
    let limit = |name: &str, hard_ms: u64, soft_ms: Option<u64>| WorkerCommand::TimeLimit {
        task_name: name.into(),
        hard: Duration::from_millis(hard_ms),
        soft: soft_ms.map(Duration::from_millis),
    };
    let reply = ask(&client, limit("email.send", 1_000, None)).await;
    assert!(!reply.ok, "{reply:?}");
    assert_eq!(
        reply.message,
        "no handler for task \"email.send\" in this worker (it runs: noop)"
    );

    let message = refused(&client, limit("", 1_000, None)).await;
    assert!(
        message.contains("task_name: must not be empty"),
        "{message}"
    );
    let message = refused(&client, limit("noop", 0, None)).await;
    assert!(message.contains("hard_ms: is required"), "{message}");
    let message = refused(&client, limit("noop", 100, Some(200))).await;
    assert!(message.contains("more than the hard limit"), "{message}");
    let message = refused(&client, limit(&"n".repeat(201), 100, None)).await;
    assert!(message.contains("at most 200"), "{message}");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_user_defined_command_answers_with_its_text_and_details() {
    let broker = TestBroker::start().await;
    let worker = spawn(&broker, |w| {
        noop(w)
            .control_command("greet", |args| {
                let who = args.get("who").map_or("world", String::as_str);
                Ok(CommandReply::new(format!("hello, {who}")).detail("greeted", who))
            })
            .control_command("refuse", |_| Err("not today".into()))
    })
    .await;
    connected(&broker).await;
    let client = broker.client().await;
    let custom = |name: &str, args: &[(&str, &str)]| WorkerCommand::Custom {
        name: name.into(),
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    };

    let reply = ask(&client, custom("greet", &[("who", "ada")])).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.message, "hello, ada");
    assert_eq!(reply.details["greeted"], "ada", "the handler's own detail");
    assert_eq!(
        reply.details["pid"],
        std::process::id().to_string(),
        "and the worker's facts"
    );

    let reply = ask(&client, custom("refuse", &[])).await;
    assert!(!reply.ok, "{reply:?}");
    assert_eq!(reply.message, "not today");

    let reply = ask(&client, custom("reboot", &[])).await;
    assert!(!reply.ok, "{reply:?}");
    assert_eq!(
        reply.message,
        "no control command \"reboot\" in this worker (it knows: greet,refuse)"
    );
    assert_eq!(reply.details["commands"], "greet,refuse");

    let message = refused(&client, custom("", &[])).await;
    assert!(
        message.contains("custom.name: must not be empty"),
        "{message}"
    );
    let many: BTreeMap<String, String> = (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
    let message = refused(
        &client,
        WorkerCommand::Custom {
            name: "greet".into(),
            args: many,
        },
    )
    .await;
    assert!(message.contains("65 entries; at most 64"), "{message}");
    worker.stop().await.unwrap();
}
