//! Control commands through the broker to a running worker: `ping` is answered by the control
//! step with the worker's facts; `shutdown` stops it warm; without a control step the broker
//! hears why there is no answer.

use std::time::Duration;

use stalk_client::WorkerCommand;
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{Step, StepContext, StepError, TaskError, CONTROL, SESSION};

use crate::support::{spawn, SOON};

const WAIT: Duration = Duration::from_secs(5);

fn noop(w: stalk_worker::WorkerBuilder) -> stalk_worker::WorkerBuilder {
    w.task("noop", |(): ()| async move { Ok::<_, TaskError>(()) })
}

async fn connected(broker: &TestBroker) {
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
