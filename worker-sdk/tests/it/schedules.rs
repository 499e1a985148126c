//! A schedule's tasks, fired by the broker, run on a worker and succeed: their ids
//! (`NAME@SLOT_MS`) are accepted on the way back.

use std::time::Duration;

use stalk_client::{Schedule, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;

use crate::support::{spawn, SOON};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_task_runs_on_a_worker_and_succeeds() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let worker = spawn(&broker, |w| {
        w.task("tick", |(): ()| async move { Ok::<_, TaskError>(()) })
    })
    .await;
    let tick = Task::new("tick").json(&()).unwrap();
    client
        .put_schedule(Schedule::every("ticker", Duration::from_secs(1), tick))
        .await
        .unwrap();
    let fired = wait_until(
        SOON,
        || async { client.schedule("ticker").await.unwrap().last_task_id },
        Option::is_some,
    )
    .await
    .expect("the schedule fires")
    .unwrap();
    assert!(fired.starts_with("ticker@"), "{fired}");
    let status = client.wait_for(&fired, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    worker.stop().await.unwrap();
}
