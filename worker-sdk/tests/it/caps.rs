//! Concurrency caps and keyed limits through the broker and real workers: a cap holds across
//! three workers, a per-tenant cap keeps a noisy tenant from starving a quiet one, removing it
//! at runtime lets the noisy tenant use every slot, and limits survive a broker restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stalk_client::{Limit, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::TaskError;
use tokio::sync::Semaphore;

use crate::support::{spawn, SOON};

/// How many tasks run now, and the most that ever ran at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_cap_holds_across_three_workers() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .set_limit(&Limit::task("capped").max_concurrency(2))
        .await
        .unwrap();
    let gauge = Arc::new(Gauge::default());
    let mut workers = Vec::new();
    for id in ["w1", "w2", "w3"] {
        let gauge = gauge.clone();
        let worker = spawn(&broker, move |w| {
            w.worker_id(id)
                .concurrency(4)
                .task("capped", move |(): ()| {
                    let gauge = gauge.clone();
                    async move {
                        gauge.enter();
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        gauge.leave();
                        Ok::<_, TaskError>(())
                    }
                })
        })
        .await;
        workers.push(worker);
    }
    let tasks: Vec<Task> = (0..24)
        .map(|_| Task::new("capped").json(&()).unwrap())
        .collect();
    let handles = client.enqueue_many(tasks).await.unwrap();
    // While they run, the ones waiting say which cap holds them.
    let listed = wait_until(
        SOON,
        || async {
            client
                .list_tasks("default", TaskState::Ready, 100, None)
                .await
                .unwrap()
                .0
        },
        |tasks| tasks.iter().any(|t| t.waiting_for.is_some()),
    )
    .await
    .expect("a waiting task shows why it waits");
    let held = listed.iter().find_map(|t| t.waiting_for.clone()).unwrap();
    assert!(held.starts_with("concurrency cap task:capped ("), "{held}");
    for handle in handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    let most = gauge.most.load(Ordering::SeqCst);
    assert!(
        most <= 2,
        "{most} ran at once under a cap of 2 across 12 slots"
    );
    assert_eq!(client.limits().await.unwrap()[0].running, 0, "all ended");
    for worker in workers {
        worker.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_tenant_cap_keeps_a_noisy_tenant_from_starving_a_quiet_one() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .set_limit(&Limit::queue("default").per("tenant").max_concurrency(2))
        .await
        .unwrap();
    // Noisy tasks hold their slot until the test lets them go.
    let gate = Arc::new(Semaphore::new(0));
    let noisy = Arc::new(Gauge::default());
    let (gate_in, noisy_in) = (gate.clone(), noisy.clone());
    let worker = spawn(&broker, move |w| {
        w.concurrency(4)
            .task("noisy", move |(): ()| {
                let (gate, noisy) = (gate_in.clone(), noisy_in.clone());
                async move {
                    noisy.enter();
                    // Each released task takes one permit for good.
                    gate.acquire().await.map(|p| p.forget()).ok();
                    noisy.leave();
                    Ok::<_, TaskError>(())
                }
            })
            .task("quiet", |(): ()| async move { Ok::<_, TaskError>(()) })
    })
    .await;
    let of = |name: &str, tenant: &str| Task::new(name).header("tenant", tenant).json(&()).unwrap();
    let noisy_tasks: Vec<Task> = (0..200).map(|_| of("noisy", "noisy")).collect();
    let noisy_handles = client.enqueue_many(noisy_tasks).await.unwrap();
    let quiet_tasks: Vec<Task> = (0..5).map(|_| of("quiet", "calm")).collect();
    let quiet_handles = client.enqueue_many(quiet_tasks).await.unwrap();
    // Without the cap the noisy tenant would hold all four slots until released.
    for handle in quiet_handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    wait_until(
        SOON,
        || async { noisy.now.load(Ordering::SeqCst) },
        |&running| running == 2,
    )
    .await
    .expect("two noisy tasks run");
    assert_eq!(noisy.most.load(Ordering::SeqCst), 2, "two noisy at a time");
    let info = &client.limits().await.unwrap()[0];
    assert_eq!(info.per_header.as_deref(), Some("tenant"));
    assert_eq!((info.running, info.waiting), (2, 198));
    // Removed at runtime: the noisy tenant may use every slot.
    client
        .remove_limit("queue:default", Some("tenant"))
        .await
        .unwrap();
    wait_until(
        SOON,
        || async { noisy.now.load(Ordering::SeqCst) },
        |&running| running == 4,
    )
    .await
    .expect("four noisy tasks run once the cap is gone");
    gate.add_permits(200);
    for handle in noisy_handles {
        let status = handle.unwrap().wait(&client, SOON).await.unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
    }
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_survive_a_restart_and_bad_ones_are_refused_naming_the_field() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .set_limit(
            &Limit::queue("mail")
                .per("tenant")
                .max_concurrency(3)
                .rate("100/m"),
        )
        .await
        .unwrap();
    client
        .set_limit(&Limit::queue("mail").max_concurrency(10))
        .await
        .unwrap();
    broker.restart().await;
    let client = broker.client().await;
    let limits = client.limits().await.unwrap();
    assert_eq!(limits.len(), 2);
    assert_eq!(
        (limits[0].per_header.as_deref(), limits[0].max_concurrency),
        (None, Some(10))
    );
    assert_eq!(
        (
            limits[1].per_header.as_deref(),
            limits[1].rate.as_deref(),
            limits[1].burst,
            limits[1].max_concurrency
        ),
        (Some("tenant"), Some("100/m"), 100, Some(3))
    );
    for (limit, field) in [
        (Limit::scope("mail").max_concurrency(1), "scope"),
        (Limit::queue("mail").rate("10/x"), "rate"),
        (Limit::queue("mail").max_concurrency(1).burst(5), "burst"),
        (
            Limit::queue("mail").per("x".repeat(200)).max_concurrency(1),
            "per_header",
        ),
    ] {
        let err = client.set_limit(&limit).await.unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}
