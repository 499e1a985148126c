//! Workflows under `kill -9` of the real `stalkd` binary (issue 14): chords of 100 members and
//! chains of 20 steps run while the broker is killed and restarted ten times. Every tenth
//! member replaces itself with the task that gives its result (a dynamic workflow). Every chord
//! body is released once, with every member's result in order, and succeeds once; every chain
//! reaches its last step with the count of the steps before it; every replacement is made
//! once; no task runs again after its ack returned OK.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde_json::{json, Value};
use stalk_client::{chain, chord, AckOutcome, Canvas, Client, LeaseOptions, Task, TaskState};

use crate::support::{connect_retrying as connect, Stalkd};

/// Kill-restart rounds.
const ROUNDS: usize = 10;
/// Each round runs load for a random time in this range before the kill.
const ROUND_MS: (u64, u64) = (150, 500);
const MEMBERS: i64 = 100;
const STEPS: usize = 20;
const QUEUE: &str = "wf";

#[derive(Default)]
struct Ledger {
    /// Workflows whose Enqueue returned OK: id -> their tasks' ids.
    submitted: HashMap<String, Vec<String>>,
    /// Tasks whose ack returned OK.
    acked: HashSet<String>,
    /// Tasks delivered again after their ack returned OK.
    redelivered_after_ack: Vec<String>,
    /// Chord bodies delivered with a payload that is not every member's result in order.
    bad_bodies: Vec<(String, Value)>,
}

fn task(name: &str, args: &Value) -> Task {
    Task::new(name).queue(QUEUE).json(args).expect("JSON")
}

/// Every this many chord members, one replaces itself.
const RELAY_EVERY: i64 = 10;

/// A chord of `MEMBERS` (member i returns i; every `RELAY_EVERY`th is a `relay` that replaces
/// itself with that member) and a chain of `STEPS` (each adds one).
fn workflows() -> [Canvas; 2] {
    let members = (0..MEMBERS).map(|i| {
        let name = if i % RELAY_EVERY == 0 {
            "relay"
        } else {
            "member"
        };
        task(name, &json!([i]))
    });
    let steps = std::iter::once(task("step", &json!([0])))
        .chain((1..STEPS).map(|_| Task::new("step").queue(QUEUE)));
    [chord(members, Task::new("body").queue(QUEUE)), chain(steps)]
}

async fn produce(client: Client, ledger: Arc<Mutex<Ledger>>) {
    loop {
        for canvas in workflows() {
            match client.enqueue_workflow(canvas).await {
                Ok(flow) => {
                    ledger.lock().submitted.insert(flow.id, flow.task_ids);
                }
                Err(_) => return,
            }
        }
    }
}

/// What a task returns: a member its index, a step one more than the sum of its arguments,
/// a body the sum of the members' results.
fn run(ledger: &Mutex<Ledger>, id: &str, name: &str, args: &Value) -> Value {
    match name {
        "member" => args[0].clone(),
        "step" => json!(
            args.as_array()
                .map_or(0, |a| a.iter().filter_map(Value::as_i64).sum::<i64>())
                + 1
        ),
        _ => {
            let expected: Vec<i64> = (0..MEMBERS).collect();
            if args != &json!([expected]) {
                ledger.lock().bad_bodies.push((id.to_owned(), args.clone()));
            }
            json!((0..MEMBERS).sum::<i64>())
        }
    }
}

/// Leases and acks with results until the broker goes (or, with `until_idle`, until nothing
/// is left to lease for a while).
async fn consume(client: Client, ledger: Arc<Mutex<Ledger>>, until_idle: bool) {
    let mut idle_since = Instant::now();
    loop {
        let Ok(leased) = client
            .lease(LeaseOptions {
                max_tasks: 50,
                wait: Duration::from_millis(50),
                ..LeaseOptions::new([QUEUE])
            })
            .await
        else {
            return;
        };
        if leased.is_empty() {
            if until_idle && idle_since.elapsed() > Duration::from_millis(500) {
                return;
            }
            continue;
        }
        idle_since = Instant::now();
        let mut acks = Vec::with_capacity(leased.len());
        for leased_task in &leased {
            let args: Value = leased_task.json().unwrap_or(Value::Null);
            {
                let mut ledger = ledger.lock();
                if ledger.acked.contains(&leased_task.id) {
                    ledger.redelivered_after_ack.push(leased_task.id.clone());
                }
            }
            let outcome = if leased_task.name == "relay" {
                AckOutcome::Replace(task("member", &args).into())
            } else {
                let result = run(&ledger, &leased_task.id, &leased_task.name, &args);
                AckOutcome::Success {
                    value: serde_json::to_vec(&result).expect("JSON").into(),
                    content_type: "application/json".into(),
                }
            };
            acks.push((leased_task, outcome));
        }
        let Ok(results) = client.ack_many(acks).await else {
            return;
        };
        let mut ledger = ledger.lock();
        for (leased_task, result) in leased.iter().zip(results) {
            if result.is_ok() {
                ledger.acked.insert(leased_task.id.clone());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_survive_kill_9_with_every_step_released_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let seed: u64 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into();
    let mut rng = seed;
    println!("workflow crash test seed {seed}");
    for _ in 0..ROUNDS {
        let stalkd = Stalkd::start(dir.path(), &[]);
        let url = stalkd.url();
        let load = vec![
            tokio::spawn(produce(connect(&url).await, ledger.clone())),
            tokio::spawn(consume(connect(&url).await, ledger.clone(), false)),
            tokio::spawn(consume(connect(&url).await, ledger.clone(), false)),
        ];
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
    consume(client.clone(), ledger.clone(), true).await;
    let ledger = std::mem::take(&mut *ledger.lock());
    println!(
        "{} workflows submitted, {} tasks acked, over {ROUNDS} kills",
        ledger.submitted.len(),
        ledger.acked.len()
    );
    assert!(
        ledger.submitted.len() >= ROUNDS,
        "the load ran: {} workflows",
        ledger.submitted.len()
    );
    assert!(
        ledger.redelivered_after_ack.is_empty(),
        "delivered again after their ack returned OK: {:?}",
        ledger.redelivered_after_ack
    );
    assert!(
        ledger.bad_bodies.is_empty(),
        "chord bodies without every member's result: {:?}",
        ledger.bad_bodies
    );
    for (id, task_ids) in &ledger.submitted {
        let status = client.workflow(id).await.expect("the workflow is kept");
        let relays = if task_ids.len() == STEPS {
            0
        } else {
            (0..MEMBERS).filter(|i| i % RELAY_EVERY == 0).count()
        };
        assert_eq!(
            status.grafts.len(),
            relays,
            "{id}: each relay replaced itself once"
        );
        assert_eq!(status.tasks.len(), task_ids.len() + relays, "{id}");
        let states: Vec<(String, TaskState)> = status
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.state))
            .collect();
        assert!(
            status.succeeded,
            "workflow {id} did not succeed whole: {states:?}"
        );
        let last = &status.tasks[task_ids.len() - 1];
        let expected = if task_ids.len() == STEPS {
            json!(STEPS)
        } else {
            json!((0..MEMBERS).sum::<i64>())
        };
        assert_eq!(last.json::<Value>().expect("JSON"), expected, "{id}");
    }
}
