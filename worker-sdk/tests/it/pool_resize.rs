//! `pool_grow` and `pool_shrink`: a running worker runs more or fewer tasks at once. A grow
//! grants the broker more credit at once; a shrink lets running tasks finish and starts no
//! task in a removed slot. Floor 1 slot, cap 1024. A prefork pool starts and retires child
//! processes to match.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stalk_client::{Client, Task, TaskHandle, TaskState, WorkerCommand};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskError, WorkerBuilder};
use tokio::sync::Semaphore;

use crate::control::{ask, connected, refused};
use crate::support::{spawn, DemoWorker, SOON};

/// Counts `hold` attempts running now and the most at once; each runs until the gate lets
/// it through.
#[derive(Clone)]
struct Latch {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl Latch {
    fn new() -> Self {
        Self {
            now: Arc::default(),
            most: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
        }
    }

    /// A worker with `slots` slots and no prefetch (so what the broker pushes is what the
    /// credit allows) that runs `hold`.
    fn worker(&self, slots: u32) -> impl FnOnce(WorkerBuilder) -> WorkerBuilder {
        let latch = self.clone();
        move |w| {
            w.concurrency(slots)
                .prefetch(0)
                .task("hold", move |(): ()| {
                    let latch = latch.clone();
                    async move {
                        let running = latch.now.fetch_add(1, Ordering::SeqCst) + 1;
                        latch.most.fetch_max(running, Ordering::SeqCst);
                        latch.gate.acquire().await.unwrap().forget();
                        latch.now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, TaskError>(())
                    }
                })
        }
    }

    /// Waits until exactly `n` attempts run at once.
    async fn running(&self, n: usize) {
        let seen = wait_until(
            SOON,
            || async { self.now.load(Ordering::SeqCst) },
            |&now| now == n,
        )
        .await;
        assert_eq!(seen, Ok(n), "{n} tasks run at once");
    }
}

async fn enqueue_holds(client: &Client, n: usize) -> Vec<TaskHandle> {
    let tasks: Vec<Task> = (0..n)
        .map(|_| Task::new("hold").json(&()).unwrap())
        .collect();
    let handles = client.enqueue_many(tasks).await.unwrap();
    handles.into_iter().map(Result::unwrap).collect()
}

async fn all_succeed(client: &Client, handles: Vec<TaskHandle>) {
    for handle in handles {
        let status = handle.wait(client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    }
}

/// Waits until the broker holds `ready` tasks READY and `leased` LEASED in queue `default`.
async fn broker_holds(client: &Client, ready: u64, leased: u64) {
    let seen = wait_until(
        SOON,
        || async {
            let stats = &client.queue_stats(&["default"]).await.unwrap()[0];
            (stats.ready, stats.leased)
        },
        |&counts| counts == (ready, leased),
    )
    .await;
    assert_eq!(seen, Ok((ready, leased)), "(ready, leased) in the broker");
}

#[tokio::test]
async fn pool_grow_lets_more_tasks_run_at_once() {
    let broker = TestBroker::start().await;
    let latch = Latch::new();
    let worker = spawn(&broker, latch.worker(1)).await;
    connected(&broker).await;
    let client = broker.client().await;
    let handles = enqueue_holds(&client, 3).await;
    latch.running(1).await;
    broker_holds(&client, 2, 1).await;

    let reply = ask(&client, WorkerCommand::PoolGrow(2)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.message, "pool grew by 2 to 3");
    assert_eq!(reply.details["concurrency"], "3");
    latch.running(3).await;
    latch.gate.add_permits(3);
    all_succeed(&client, handles).await;
    assert_eq!(latch.most.load(Ordering::SeqCst), 3);

    let reply = ask(&client, WorkerCommand::PoolGrow(1024)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.message, "pool grew by 1021 to 1024 (the cap)");
    let reply = ask(&client, WorkerCommand::PoolGrow(1)).await;
    assert!(!reply.ok, "{reply:?}");
    assert!(
        reply
            .message
            .starts_with("the pool is at its cap of 1024 slots"),
        "{reply:?}"
    );
    for bad in [WorkerCommand::PoolGrow(0), WorkerCommand::PoolShrink(1025)] {
        let message = refused(&client, bad).await;
        assert!(message.contains("is outside 1..=1024"), "{message}");
    }
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn pool_shrink_lets_running_tasks_finish_and_then_runs_fewer() {
    let broker = TestBroker::start().await;
    let latch = Latch::new();
    let worker = spawn(&broker, latch.worker(3)).await;
    connected(&broker).await;
    let client = broker.client().await;
    let first = enqueue_holds(&client, 3).await;
    latch.running(3).await;

    let reply = ask(&client, WorkerCommand::PoolShrink(2)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.message, "pool shrank by 2 to 1; running tasks finish");
    assert_eq!(reply.details["concurrency"], "1");
    // The three running tasks were not stopped: each finishes when let through.
    latch.gate.add_permits(3);
    all_succeed(&client, first).await;

    latch.most.store(0, Ordering::SeqCst);
    let second = enqueue_holds(&client, 3).await;
    latch.running(1).await;
    // The credit shrank with the pool: the broker pushes one, and keeps two READY.
    broker_holds(&client, 2, 1).await;
    latch.gate.add_permits(3);
    all_succeed(&client, second).await;
    assert_eq!(latch.most.load(Ordering::SeqCst), 1, "one slot left");

    let reply = ask(&client, WorkerCommand::PoolShrink(5)).await;
    assert!(!reply.ok, "{reply:?}");
    assert_eq!(reply.message, "the pool is at its floor of 1 slot");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_prefork_pool_starts_and_retires_children_to_match() {
    let broker = TestBroker::start().await;
    let mut worker = DemoWorker::start(
        &broker,
        &["--pool", "prefork", "--concurrency", "1", "--prefetch", "0"],
    );
    connected(&broker).await;
    let client = broker.client().await;
    let children = |n: usize| {
        let worker = &worker;
        async move {
            let seen = wait_until(SOON, || async { worker.children().len() }, |&c| c == n).await;
            assert_eq!(seen, Ok(n), "child processes");
        }
    };
    children(1).await;

    let reply = ask(&client, WorkerCommand::PoolGrow(2)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.details["concurrency"], "3");
    children(3).await;
    let tasks: Vec<Task> = (0..3)
        .map(|_| Task::new("sleep").json(&1_500).unwrap())
        .collect();
    let handles: Vec<TaskHandle> = client
        .enqueue_many(tasks)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let running = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap() },
        |w| w.len() == 1 && w[0].running.len() == 3,
    )
    .await;
    assert!(running.is_ok(), "three children run at once: {running:?}");

    let reply = ask(&client, WorkerCommand::PoolShrink(2)).await;
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.details["concurrency"], "1");
    all_succeed(&client, handles).await;
    children(1).await;
    assert!(worker.terminate().await.success(), "warm shutdown exits 0");
}
