//! Crash durability of the real `stalkd` binary.
//!
//! Contract: every Enqueue that returned OK before `kill -9` is present (or completed) after
//! restart, and no task whose Ack returned OK is ever delivered again. Producers and consumers
//! run concurrently; the broker is killed at a random moment several times and restarted on the
//! same data dir.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use stalk_client::{AckOutcome, Client, LeaseOptions, Task, TaskState};

use crate::support::{connect_retrying as connect, Stalkd};

/// Kill-restart rounds: enough to hit kills during enqueue, lease and ack.
const ROUNDS: usize = 4;
/// Each round runs load for a random time in this range before the kill.
const ROUND_MS: (u64, u64) = (150, 700);
/// Producers and consumers per round.
const PRODUCERS: usize = 2;
const CONSUMERS: usize = 2;
/// Tasks per producer batch.
const BATCH: usize = 20;

#[derive(Default)]
struct Ledger {
    enqueued: HashSet<String>,
    completed: HashSet<String>,
    redelivered_after_ack: Vec<String>,
}

async fn produce(client: Client, ledger: Arc<Mutex<Ledger>>, prefix: String) {
    for batch in 0.. {
        let tasks: Vec<Task> = (0..BATCH)
            .map(|i| {
                Task::new("crash.test")
                    .queue("crash")
                    .id(format!("{prefix}-{batch}-{i}"))
            })
            .collect();
        let ids: Vec<String> = tasks.iter().map(|t| t.spec().task_id.clone()).collect();
        match client.enqueue_many(tasks).await {
            Ok(outcomes) => {
                let mut ledger = ledger.lock();
                for (id, outcome) in ids.into_iter().zip(outcomes) {
                    if outcome.is_ok() {
                        ledger.enqueued.insert(id);
                    }
                }
            }
            Err(_) => return,
        }
    }
}

async fn consume(client: Client, ledger: Arc<Mutex<Ledger>>) {
    loop {
        let leased = match client
            .lease(LeaseOptions {
                max_tasks: 10,
                wait: Duration::from_millis(50),
                ..LeaseOptions::new(["crash"])
            })
            .await
        {
            Ok(leased) => leased,
            Err(_) => return,
        };
        {
            let mut ledger = ledger.lock();
            for task in &leased {
                if ledger.completed.contains(&task.id) {
                    ledger.redelivered_after_ack.push(task.id.clone());
                }
            }
        }
        let acks = leased.iter().map(|t| (t, success()));
        let Ok(results) = client.ack_many(acks).await else {
            return;
        };
        let mut ledger = ledger.lock();
        for (task, result) in leased.iter().zip(results) {
            if result.is_ok() {
                ledger.completed.insert(task.id.clone());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let seed: u64 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into();
    let mut rng = seed;
    println!("crash test seed {seed}");
    for round in 0..ROUNDS {
        let stalkd = Stalkd::start(dir.path(), &[]);
        let url = stalkd.url();
        let mut load = Vec::new();
        for p in 0..PRODUCERS {
            let client = connect(&url).await;
            load.push(tokio::spawn(produce(
                client,
                ledger.clone(),
                format!("r{round}p{p}"),
            )));
        }
        for _ in 0..CONSUMERS {
            let client = connect(&url).await;
            load.push(tokio::spawn(consume(client, ledger.clone())));
        }
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let run_ms = ROUND_MS.0 + (rng >> 33) % (ROUND_MS.1 - ROUND_MS.0);
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        stalkd.kill9();
        for task in load {
            task.await.unwrap();
        }
    }

    let stalkd = Stalkd::start(dir.path(), &[]);
    let client = connect(&stalkd.url()).await;
    consume_until_empty(&client, &ledger).await;
    let ledger = std::mem::take(&mut *ledger.lock());
    assert!(
        ledger.enqueued.len() > ROUNDS * BATCH,
        "the load ran: {} enqueued",
        ledger.enqueued.len()
    );
    assert!(
        ledger.redelivered_after_ack.is_empty(),
        "tasks delivered again after their ack returned OK: {:?}",
        ledger.redelivered_after_ack
    );
    let succeeded = succeeded(&client).await;
    let missing: Vec<&String> = ledger.enqueued.difference(&succeeded).collect();
    assert!(
        missing.is_empty(),
        "acknowledged enqueues lost or not completed: {missing:?}"
    );
}

/// Drains the queue after the last restart, so every surviving task completes.
async fn consume_until_empty(client: &Client, ledger: &Arc<Mutex<Ledger>>) {
    loop {
        let leased = client
            .lease(LeaseOptions {
                max_tasks: 1000,
                wait: Duration::from_millis(200),
                ..LeaseOptions::new(["crash"])
            })
            .await
            .unwrap();
        if leased.is_empty() {
            return;
        }
        {
            let mut ledger = ledger.lock();
            for task in &leased {
                if ledger.completed.contains(&task.id) {
                    ledger.redelivered_after_ack.push(task.id.clone());
                }
            }
        }
        let acks = leased.iter().map(|t| (t, success()));
        for (task, result) in leased.iter().zip(client.ack_many(acks).await.unwrap()) {
            result.unwrap();
            ledger.lock().completed.insert(task.id.clone());
        }
    }
}

fn success() -> AckOutcome {
    AckOutcome::Success {
        value: Default::default(),
        content_type: String::new(),
    }
}

/// Every task the broker reports as SUCCEEDED in the crash queue.
async fn succeeded(client: &Client) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = client
            .list_tasks("crash", TaskState::Succeeded, 1000, token.as_deref())
            .await
            .unwrap();
        ids.extend(page.into_iter().map(|t| t.id));
        match next {
            Some(next) => token = Some(next),
            None => return ids,
        }
    }
}
