//! The broker's word holds in the worker (issue 11): a revoked task is dropped from the prefetch
//! buffer or stopped while it runs, at once and not at the next lease extension; a task that
//! expires in the buffer never runs; a running task is RUNNING, a prefetched one LEASED.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stalk_client::{Client, RevokedWhile, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskError, WorkerBuilder};
use tokio::sync::Semaphore;

use crate::support::{finish, spawn, DemoWorker, SOON};

/// Far longer than any test waits: only the revoke can end these tasks or their leases.
const LONG: Duration = Duration::from_secs(600);

/// Counts its drops: the handler's future was dropped (stopped), or it returned.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Tasks the worker registers for these tests, and what the test observes of them.
#[derive(Clone)]
struct Probes {
    /// Handed out by the test: each `gate` task waits for one.
    permits: Arc<Semaphore>,
    /// How many `victim` tasks started.
    victims_started: Arc<AtomicUsize>,
    /// How many `hang` tasks' futures were dropped.
    hangs_dropped: Arc<AtomicUsize>,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(0)),
            victims_started: Arc::default(),
            hangs_dropped: Arc::default(),
        }
    }
}

impl Probes {
    /// Waits until the running `hang` task's future was dropped: it was stopped.
    async fn wait_hang_stopped(&self) {
        let dropped = wait_until(
            SOON,
            || async { self.hangs_dropped.load(Ordering::SeqCst) },
            |n| *n == 1,
        )
        .await;
        assert_eq!(dropped, Ok(1), "the handler's future was dropped");
    }

    /// One slot, three prefetched, and leases far longer than the test, so nothing but the
    /// broker's word can stop or drop a task in time.
    fn worker(&self, w: WorkerBuilder) -> WorkerBuilder {
        let (permits, started, dropped) = (
            self.permits.clone(),
            self.victims_started.clone(),
            self.hangs_dropped.clone(),
        );
        w.concurrency(1)
            .prefetch(3)
            .lease_duration(LONG)
            .task("gate", move |(): ()| {
                let permits = permits.clone();
                async move {
                    permits.acquire().await.expect("open").forget();
                    Ok::<_, TaskError>(())
                }
            })
            .task("victim", move |(): ()| {
                started.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, TaskError>(()) }
            })
            .task("hang", move |(): ()| {
                let guard = DropCount(dropped.clone());
                async move {
                    let _guard = guard;
                    tokio::time::sleep(LONG).await;
                    Ok::<_, TaskError>(())
                }
            })
            .task("quick", |(): ()| async move { Ok::<_, TaskError>(()) })
    }
}

fn task(name: &str) -> Task {
    Task::new(name).json(&()).unwrap()
}

async fn state(client: &Client, id: &str) -> TaskState {
    client.result(id, None).await.unwrap().state
}

async fn wait_state(client: &Client, id: &str, want: TaskState) {
    let got = wait_until(SOON, || state(client, id), |s| *s == want).await;
    assert_eq!(got, Ok(want), "task {id}");
}

/// A worker with the probes' tasks, and a client.
async fn setup(broker: &TestBroker) -> (Probes, crate::support::Running, Client) {
    let probes = Probes::default();
    let worker = spawn(broker, |w| probes.worker(w)).await;
    (probes, worker, broker.client().await)
}

/// Occupies the worker's one slot with a `gate` task; returns its id.
async fn occupy(client: &Client) -> String {
    let gate = client.enqueue(task("gate")).await.unwrap();
    wait_state(client, &gate.id, TaskState::Running).await;
    gate.id
}

/// Runs a task behind everything the worker holds and waits for it: whatever was ahead of it in
/// the buffer has started by then.
async fn flush_buffer(client: &Client) {
    let status = finish(client, task("quick")).await;
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
}

#[tokio::test]
async fn a_revoked_task_in_the_prefetch_buffer_is_dropped_without_starting() {
    let broker = TestBroker::start().await;
    let (probes, worker, client) = setup(&broker).await;
    occupy(&client).await;
    let victim = client.enqueue(task("victim")).await.unwrap();
    wait_state(&client, &victim.id, TaskState::Leased).await;

    let revoked = client.revoke(&[&victim.id]).await.unwrap();
    assert_eq!(revoked[0].was, RevokedWhile::Prefetched);
    assert_eq!(revoked[0].state, TaskState::Revoked);
    probes.permits.add_permits(1);
    flush_buffer(&client).await;

    assert_eq!(
        probes.victims_started.load(Ordering::SeqCst),
        0,
        "the revoked task never started"
    );
    assert_eq!(state(&client, &victim.id).await, TaskState::Revoked);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_revoked_running_task_is_stopped_at_once_and_its_slot_freed() {
    let broker = TestBroker::start().await;
    let (probes, worker, client) = setup(&broker).await;
    let hang = client.enqueue(task("hang")).await.unwrap();
    wait_state(&client, &hang.id, TaskState::Running).await;
    let status = client.result(&hang.id, None).await.unwrap();
    assert!(
        status.started_at.is_some(),
        "a running task has started: {status:?}"
    );

    let revoked = client.revoke(&[&hang.id]).await.unwrap();
    assert_eq!(revoked[0].was, RevokedWhile::Running);
    // The lease is far from its next extension: only the broker's notice stops the handler.
    probes.wait_hang_stopped().await;
    flush_buffer(&client).await;
    assert_eq!(state(&client, &hang.id).await, TaskState::Revoked);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_task_that_expires_in_the_prefetch_buffer_never_runs() {
    let broker = TestBroker::start().await;
    let (probes, worker, client) = setup(&broker).await;
    occupy(&client).await;
    let expires_at = SystemTime::now() + Duration::from_millis(300);
    let victim = client
        .enqueue(task("victim").expires_at(expires_at))
        .await
        .unwrap();
    wait_state(&client, &victim.id, TaskState::Leased).await;
    let passed = wait_until(
        SOON,
        || async { SystemTime::now() },
        |now| *now > expires_at,
    )
    .await;
    assert!(passed.is_ok());

    probes.permits.add_permits(1);
    flush_buffer(&client).await;
    assert_eq!(
        probes.victims_started.load(Ordering::SeqCst),
        0,
        "the expired task never started"
    );
    wait_state(&client, &victim.id, TaskState::Expired).await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_prefetched_task_is_leased_and_unstarted_while_the_running_one_is_running() {
    let broker = TestBroker::start().await;
    let (probes, worker, client) = setup(&broker).await;
    let gate = occupy(&client).await;
    let waiting = client.enqueue(task("victim")).await.unwrap();
    wait_state(&client, &waiting.id, TaskState::Leased).await;

    let running = client.result(&gate, None).await.unwrap();
    let prefetched = client.result(&waiting.id, None).await.unwrap();
    assert!(running.started_at.is_some(), "{running:?}");
    assert_eq!(
        prefetched.started_at, None,
        "not started yet: {prefetched:?}"
    );
    let (listed, _) = client
        .list_tasks("default", TaskState::Leased, 10, None)
        .await
        .unwrap();
    let listed: Vec<(String, TaskState)> = listed.into_iter().map(|t| (t.id, t.state)).collect();
    assert!(
        listed.contains(&(gate.clone(), TaskState::Running)),
        "{listed:?}"
    );
    assert!(
        listed.contains(&(waiting.id.clone(), TaskState::Leased)),
        "{listed:?}"
    );

    probes.permits.add_permits(1);
    let done = waiting.wait(&client, SOON).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert!(
        done.started_at >= running.finished_at.or(running.started_at),
        "it started when its slot freed, not when it was pushed: {done:?}"
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_revoked_task_running_in_a_prefork_child_is_killed_with_the_child() {
    let broker = TestBroker::start().await;
    let worker = DemoWorker::start(
        &broker,
        &[
            "--queues",
            "pf",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--lease",
            "10m",
        ],
    );
    let client = broker.client().await;
    let sleeper = client
        .enqueue(Task::new("sleep").queue("pf").json(&600_000u64).unwrap())
        .await
        .unwrap();
    wait_state(&client, &sleeper.id, TaskState::Running).await;
    let children = wait_until(SOON, || async { worker.children() }, |c| c.len() == 1).await;
    let child = children.expect("one child runs the task")[0];

    let revoked = client.revoke(&[&sleeper.id]).await.unwrap();
    assert_eq!(revoked[0].was, RevokedWhile::Running);
    let gone = wait_until(
        SOON,
        || async { worker.children() },
        |c| !c.contains(&child),
    )
    .await;
    assert!(
        gone.is_ok(),
        "the child running the revoked task was killed: {gone:?}"
    );
    let quick = finish(&client, Task::new("pid").queue("pf").json(&()).unwrap()).await;
    assert_eq!(
        quick.state,
        TaskState::Succeeded,
        "the slot was freed: {quick:?}"
    );
}

#[tokio::test]
async fn revoking_by_header_stops_the_running_task_that_carries_it() {
    let broker = TestBroker::start().await;
    let (probes, worker, client) = setup(&broker).await;
    let hang = client
        .enqueue(task("hang").header("batch", "b-7"))
        .await
        .unwrap();
    wait_state(&client, &hang.id, TaskState::Running).await;

    let report = client
        .revoke_by_headers(&[("batch", "b-7")], None)
        .await
        .unwrap();
    assert_eq!(report.matched_count, 1);
    assert_eq!(report.matched[0].was, RevokedWhile::Running);
    probes.wait_hang_stopped().await;
    let late = client
        .enqueue(task("victim").header("batch", "b-7"))
        .await
        .unwrap();
    assert_eq!(late.state, TaskState::Revoked, "refused on arrival");
    flush_buffer(&client).await;
    assert_eq!(probes.victims_started.load(Ordering::SeqCst), 0);
    worker.stop().await.unwrap();
}
