//! The prefork pool, through real `stalk-demo-worker` processes: attempts run in child
//! processes that are replaced after a number of tasks or past a memory limit, killed at the
//! hard time and memory limits, and whose deaths are reported as lost attempts with their cause.

use std::collections::BTreeMap;
use std::time::Duration;

use stalk_client::{Client, Task, TaskState, TaskStatus};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{finish, kill_9, DemoWorker, SOON};

/// Runs `task` on queue `pf` and waits for it to finish.
async fn run(client: &Client, task: Task) -> TaskStatus {
    finish(client, task.queue("pf")).await
}

/// Runs `count` tasks one after another; returns how many each process ran.
async fn pids_of(client: &Client, count: usize, task: impl Fn() -> Task) -> BTreeMap<u32, usize> {
    let mut pids = BTreeMap::new();
    for _ in 0..count {
        let status = run(client, task()).await;
        assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
        *pids.entry(status.json::<u32>().unwrap()).or_default() += 1;
    }
    pids
}

fn prefork(broker: &TestBroker, extra: &[&str]) -> DemoWorker {
    let mut args = vec!["--queues", "pf", "--pool", "prefork", "--concurrency", "1"];
    args.extend_from_slice(extra);
    DemoWorker::start(broker, &args)
}

#[tokio::test]
async fn children_run_the_tasks_and_are_replaced_after_max_tasks() {
    let broker = TestBroker::start().await;
    let mut worker = prefork(&broker, &["--max-tasks-per-child", "2"]);
    let client = broker.client().await;
    let pids = pids_of(&client, 6, || Task::new("pid").json(&()).unwrap()).await;
    assert!(
        !pids.contains_key(&worker.pid()),
        "tasks ran in children: {pids:?}"
    );
    assert_eq!(pids.len(), 3, "a new child every 2 tasks: {pids:?}");
    assert!(pids.values().all(|&n| n == 2), "{pids:?}");
    let recycled = wait_until(
        SOON,
        || async { worker.log() },
        |log| log.matches("it ran 2 tasks (max-tasks-per-child)").count() >= 3,
    )
    .await;
    assert!(
        recycled.is_ok(),
        "every recycle is logged with its reason: {recycled:?}"
    );
    assert!(worker.terminate().await.success(), "warm shutdown exits 0");
    assert!(worker.children().is_empty(), "no child outlives the worker");
}

#[tokio::test]
async fn a_child_past_the_memory_limit_is_replaced_after_its_task() {
    let broker = TestBroker::start().await;
    let worker = prefork(&broker, &["--max-memory-per-child", "100MiB"]);
    let client = broker.client().await;
    // Each task leaks 64 MiB: a child passes 100 MiB during its second task at the latest.
    let pids = pids_of(&client, 4, || Task::new("leak").json(&(64, 1)).unwrap()).await;
    assert!(pids.len() >= 2, "the leaking child was replaced: {pids:?}");
    assert!(pids.values().all(|&n| n <= 2), "{pids:?}");
    assert!(
        worker.log().contains("max-memory-per-child is 100.0 MiB"),
        "the recycle is logged with its reason:\n{}",
        worker.log()
    );
}

#[tokio::test]
async fn a_child_past_the_hard_memory_limit_is_killed_and_its_task_dead_letters() {
    let broker = TestBroker::start().await;
    let _worker = prefork(
        &broker,
        &[
            "--max-memory-per-child",
            "100MiB",
            "--max-memory-per-child-hard",
            "200MiB",
        ],
    );
    let client = broker.client().await;
    // 600 MiB in 12 steps, 20 ms apart: the 50 ms memory check sees it pass 200 MiB.
    let task = Task::new("leak")
        .json(&(600, 12))
        .unwrap()
        .max_lost_attempts(1);
    let status = run(&client, task).await;
    assert_eq!(status.state, TaskState::Failed, "{status:?}");
    assert_eq!(status.attempts, 2, "one lost attempt was retried");
    let error = status.error.unwrap();
    assert_eq!(error.kind, "WorkerLost");
    assert!(
        error.message.contains("over the hard limit of 200.0 MiB"),
        "{error:?}"
    );
    assert!(
        error.message.contains("max_lost_attempts is 1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_child_killed_mid_task_is_a_lost_attempt_then_a_dead_letter_with_the_cause() {
    let broker = TestBroker::start().await;
    let worker = prefork(&broker, &[]);
    let client = broker.client().await;
    let handle = client
        .enqueue(
            Task::new("sleep")
                .queue("pf")
                .json(&600_000u64)
                .unwrap()
                .max_lost_attempts(1),
        )
        .await
        .unwrap();
    let mut killed = Vec::new();
    for attempt in 1..=2usize {
        // The demo `sleep` task logs the pid of the child it runs in.
        let log = wait_until(
            SOON,
            || async { worker.log() },
            |log| log.matches("sleep task started").count() >= attempt,
        )
        .await;
        let log = log.unwrap_or_else(|log| panic!("attempt {attempt} starts: {log}"));
        let child: u32 = log
            .lines()
            .filter(|line| line.contains("sleep task started"))
            .nth(attempt - 1)
            .and_then(|line| line.split("pid=").nth(1))
            .and_then(|pid| pid.split_whitespace().next()?.parse().ok())
            .expect("the pid in the log line");
        kill_9(child);
        killed.push(child);
    }
    let status = handle.wait(&client, SOON).await.unwrap();
    assert_eq!(status.state, TaskState::Failed, "{status:?}");
    let error = status.error.unwrap();
    assert_eq!(error.kind, "WorkerLost");
    assert!(
        error.message.contains(&format!(
            "child process {} was killed by signal 9 (SIGKILL",
            killed[1]
        )),
        "{error:?}"
    );
    let (dead, _) = client
        .list_tasks("pf", TaskState::Failed, 10, None)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "the task is in the dead-letter set");
}

#[tokio::test]
async fn time_limits_in_a_child_soft_is_observed_and_hard_kills_it() {
    let broker = TestBroker::start().await;
    let worker = prefork(&broker, &[]);
    let client = broker.client().await;
    let soft = Task::new("patient")
        .json(&600_000u64)
        .unwrap()
        .soft_time_limit(Duration::from_millis(200));
    let status = run(&client, soft).await;
    assert_eq!(status.json::<String>().unwrap(), "soft limit");
    let before = worker.children();
    let hard = Task::new("sleep")
        .json(&600_000u64)
        .unwrap()
        .time_limit(Duration::from_millis(300))
        .max_retries(0);
    let status = run(&client, hard).await;
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.error.unwrap().kind, "TimeLimitExceeded");
    let replaced = wait_until(
        SOON,
        || async { worker.children() },
        |now| now.len() == 1 && !before.contains(&now[0]),
    )
    .await;
    assert!(
        replaced.is_ok(),
        "the timed-out child was killed and replaced: {before:?} -> {replaced:?}"
    );
}

#[tokio::test]
async fn a_child_older_than_the_max_age_is_replaced() {
    let broker = TestBroker::start().await;
    let worker = prefork(&broker, &["--max-child-age", "300ms"]);
    let client = broker.client().await;
    let first = run(&client, Task::new("pid").json(&()).unwrap()).await;
    let first: u32 = first.json().unwrap();
    let replaced = wait_until(
        SOON,
        || async { worker.log() },
        |log| log.contains("max-child-age"),
    )
    .await;
    assert!(
        replaced.is_ok(),
        "the old child is recycled with its reason: {replaced:?}"
    );
    let second: u32 = run(&client, Task::new("pid").json(&()).unwrap())
        .await
        .json()
        .unwrap();
    assert_ne!(first, second, "a new child ran the second task");
}

#[tokio::test]
async fn a_second_signal_stops_running_children_cold_and_the_task_goes_back() {
    let broker = TestBroker::start().await;
    let mut worker = prefork(&broker, &[]);
    let client = broker.client().await;
    let handle = client
        .enqueue(Task::new("sleep").queue("pf").json(&600_000u64).unwrap())
        .await
        .unwrap();
    let started = wait_until(
        SOON,
        || async { worker.log() },
        |log| log.contains("sleep task started"),
    )
    .await;
    assert!(started.is_ok(), "{started:?}");
    let children = worker.children();
    assert_eq!(children.len(), 1, "{children:?}");
    worker.signal("TERM");
    let warm = wait_until(
        SOON,
        || async { worker.log() },
        |log| log.contains("warm shutdown"),
    )
    .await;
    assert!(warm.is_ok(), "{warm:?}");
    assert!(
        worker.children().contains(&children[0]),
        "warm: the child runs on"
    );
    let status = worker.terminate().await;
    assert!(status.success(), "cold shutdown exits 0: {status:?}");
    assert!(worker.children().is_empty(), "the child was stopped");
    let task = client.result(&handle.id, None).await.unwrap();
    assert_eq!(
        task.state,
        TaskState::Ready,
        "never acked, back in its queue: {task:?}"
    );
}

#[tokio::test]
async fn a_child_hands_its_work_on_and_runs_map_tasks() {
    let broker = TestBroker::start().await;
    let _worker = prefork(&broker, &[]);
    let client = broker.client().await;
    let fanned = run(&client, Task::new("fan").json(&[1, 2, 3]).unwrap()).await;
    assert_eq!(fanned.state, TaskState::Succeeded, "{fanned:?}");
    assert_eq!(
        fanned.json::<serde_json::Value>().unwrap(),
        serde_json::json!([1, 2, 3]),
        "the replacement a child handed on ran, and its results are the task's"
    );
    let mapped = client
        .enqueue_workflow(stalk_client::Canvas::map(
            Task::new("echo").queue("pf").json(&["a", "b"]).unwrap(),
        ))
        .await
        .unwrap();
    let status = client.wait_for(&mapped.task_ids[0], SOON).await.unwrap();
    assert_eq!(
        status.json::<serde_json::Value>().unwrap(),
        serde_json::json!([["a"], ["b"]]),
        "a map task runs its handler once per item in the child: {status:?}"
    );
}
