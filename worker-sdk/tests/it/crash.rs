//! A worker process killed with `kill -9` mid-task: its running task is released after the
//! broker's reconnect grace and runs on another worker; it is never lost and never acked by the
//! dead worker.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;

use crate::support::{spawn, SOON};

/// The broker's reconnect grace in this test.
const GRACE: Duration = Duration::from_millis(300);
/// How long after the kill the task may take to start elsewhere: the grace, the 0.5 s,
/// and slack for a loaded 2-core CI machine (the measured figure is printed).
const BUDGET: Duration = Duration::from_millis(300 + 500 + 2_000);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_running_task_runs_elsewhere_after_the_grace() {
    let broker = TestBroker::start_with(|c| {
        c.session_grace = stalk_broker::config::SessionGrace::After(GRACE)
    })
    .await;
    let worker = Command::new(env!("CARGO_BIN_EXE_stalk-demo-worker"))
        .args([
            "--addr",
            &broker.url(),
            "--worker-id",
            "doomed",
            "--queues",
            "slow",
        ])
        .env("STALK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the demo worker");
    let mut worker = Killed(worker);
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("sleep").queue("slow").json(&600_000u64).unwrap())
        .await
        .unwrap();
    let running = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| {
            w.iter()
                .any(|w| w.worker_id == "doomed" && w.running.len() == 1)
        },
    )
    .await;
    assert!(
        running.is_ok(),
        "the demo worker runs the task: {running:?}"
    );

    worker.0.kill().expect("kill -9 the worker");
    let killed = Instant::now();
    let _ = worker.0.wait();
    let rescuer = spawn(&broker, |w| {
        w.queues(["slow"])
            .task("sleep", |_ms: u64| async move { Ok::<_, TaskError>(0u64) })
    })
    .await;
    let status = handle.wait(&client, SOON).await.unwrap();
    let took = killed.elapsed();
    println!("the task finished elsewhere {took:?} after the kill (grace {GRACE:?})");
    assert_eq!(status.state, TaskState::Succeeded);
    assert_eq!(status.attempts, 2, "the killed run counts as an attempt");
    assert!(took < BUDGET, "took {took:?}, budget {BUDGET:?}");
    rescuer.stop().await.unwrap();
}
