//! Model-based test: random sequences of enqueue, lease, ack, nack, revoke, time passing and
//! restarts run against the real engine + store (no network) and against a plain in-memory
//! model; after every step they must agree on what was leased and on every queue count.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use stalk_broker::broker::Broker;
use stalk_broker::clock::ManualClock;
use stalk_broker::engine::{
    AckOutcome, EngineConfig, NackAction, NewTask, TaskBody, TaskError, TaskId, TaskOptions,
    TaskResult, Timer, When,
};
use stalk_broker::store::{Store, StoreConfig};
use stalk_broker::Durability;
use tokio_util::sync::CancellationToken;

/// Every lease in the model lasts this long, so `Advance` can expire some and not others.
const LEASE_MS: u64 = 1_000;

#[derive(Debug, Clone)]
enum Op {
    Enqueue { priority: u8, count: u8 },
    Lease { max: u8 },
    Ack { pick: usize, success: bool },
    Nack { pick: usize },
    Revoke { pick: usize },
    Advance { ms: u64 },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 1u8..4).prop_map(|(priority, count)| Op::Enqueue { priority: priority * 4, count }),
        3 => (1u8..4).prop_map(|max| Op::Lease { max }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, success)| Op::Ack { pick, success }),
        1 => any::<usize>().prop_map(|pick| Op::Nack { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Revoke { pick }),
        1 => (0u64..2_000).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelState {
    Ready { seq: u64 },
    Leased { seq: u64, lease: u64, deadline: u64 },
    Done,
}

/// The model: each task's priority and state; ready order is (priority desc, seq asc).
#[derive(Debug, Default)]
struct Model {
    tasks: BTreeMap<String, (u8, ModelState)>,
    /// Attempts each task lost to an expired lease.
    lost: BTreeMap<String, u32>,
    next_seq: u64,
}

/// Each model task's `max_lost_attempts`: small, so some tasks run out of it.
const LOST_BUDGET: u32 = 2;

impl Model {
    fn ready_order(&self) -> Vec<String> {
        let mut ready: Vec<(u8, u64, &String)> = self
            .tasks
            .iter()
            .filter_map(|(id, (p, s))| match s {
                ModelState::Ready { seq } => Some((*p, *seq, id)),
                _ => None,
            })
            .collect();
        ready.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ready.into_iter().map(|(_, _, id)| id.clone()).collect()
    }

    fn counts(&self) -> (u64, u64) {
        let ready = self
            .tasks
            .values()
            .filter(|(_, s)| matches!(s, ModelState::Ready { .. }))
            .count();
        let leased = self
            .tasks
            .values()
            .filter(|(_, s)| matches!(s, ModelState::Leased { .. }))
            .count();
        (ready as u64, leased as u64)
    }

    /// Expired leases (or all, at a restart) make their tasks ready again; an expiry is a lost
    /// attempt, and the one past the budget fails the task. A restart loses nothing.
    fn release_all_leases(&mut self, expired_by: Option<u64>) {
        for (id, (_, state)) in &mut self.tasks {
            if let ModelState::Leased { seq, deadline, .. } = *state {
                if expired_by.is_none_or(|now| deadline <= now) {
                    *state = ModelState::Ready { seq };
                    if expired_by.is_some() {
                        let lost = self.lost.entry(id.clone()).or_default();
                        *lost += 1;
                        if *lost > LOST_BUDGET {
                            *state = ModelState::Done;
                        }
                    }
                }
            }
        }
    }
}

struct Real {
    dir: tempfile::TempDir,
    clock: ManualClock,
    broker: Option<Arc<Broker>>,
}

impl Real {
    fn open(&mut self) {
        let store = Store::open(&StoreConfig {
            path: self.dir.path().to_path_buf(),
            cache_bytes: 8 << 20,
            flush_every_ms: 1_000,
            min_free_bytes: 0,
            accept_data_loss: false,
        })
        .expect("open store");
        let broker = Broker::open(
            store,
            EngineConfig {
                result_ttl_ms: 3_600_000,
                // The model's ready order is strict priority.
                priority_aging_ms: 0,
            },
            Durability::Sync,
            Arc::new(self.clock.clone()),
            CancellationToken::new(),
            None,
        )
        .expect("open broker");
        self.broker = Some(Arc::new(broker));
    }

    fn broker(&self) -> &Arc<Broker> {
        self.broker.as_ref().expect("open")
    }
}

fn task(id: &str, priority: u8) -> NewTask {
    NewTask {
        id: TaskId::new(id),
        name: "model".into(),
        queue: "q".into(),
        priority,
        unique_key: None,
        options: TaskOptions {
            max_retries: 0,
            lease_ms: u32::try_from(LEASE_MS).unwrap(),
            max_lost_attempts: LOST_BUDGET,
            ..TaskOptions::default()
        },
        expires: None,
        eta: None,
        body: TaskBody {
            payload: id.as_bytes().to_vec().into(),
            ..TaskBody::default()
        },
        flow: None,
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut real = Real {
        dir: tempfile::tempdir().expect("tempdir"),
        clock: ManualClock::new(1_000_000),
        broker: None,
    };
    real.open();
    let mut model = Model::default();
    let mut held: Vec<(String, u64)> = Vec::new();
    let mut next_id = 0;
    for op in ops {
        if matches!(op, Op::Ack { .. } | Op::Nack { .. }) && held.is_empty() {
            continue;
        }
        match op {
            Op::Enqueue { priority, count } => {
                let tasks: Vec<NewTask> = (0..count)
                    .map(|_| {
                        next_id += 1;
                        task(&format!("t{next_id}"), priority)
                    })
                    .collect();
                for t in &tasks {
                    model.next_seq += 1;
                    model.tasks.insert(
                        t.id.to_string(),
                        (
                            priority,
                            ModelState::Ready {
                                seq: model.next_seq,
                            },
                        ),
                    );
                }
                real.broker().enqueue(tasks).await.expect("enqueue");
            }
            Op::Lease { max } => {
                let expected: Vec<String> =
                    model.ready_order().into_iter().take(max.into()).collect();
                let leased = real
                    .broker()
                    .lease(
                        vec!["q".into()],
                        max.into(),
                        Some(LEASE_MS),
                        false,
                        std::time::Duration::ZERO,
                        None,
                    )
                    .await
                    .expect("lease");
                let got: Vec<String> = leased.iter().map(|t| t.meta.id.to_string()).collect();
                prop_assert_eq!(&got, &expected, "lease order");
                for t in &leased {
                    prop_assert_eq!(
                        &t.body.payload,
                        &t.meta.id.to_string().into_bytes(),
                        "body intact"
                    );
                    let entry = model.tasks.get_mut(&t.meta.id.to_string()).expect("known");
                    let ModelState::Ready { seq } = entry.1 else {
                        unreachable!()
                    };
                    entry.1 = ModelState::Leased {
                        seq,
                        lease: t.lease_id,
                        deadline: t.deadline_ms,
                    };
                    held.push((t.meta.id.to_string(), t.lease_id));
                }
            }
            Op::Ack { pick, success } => {
                let (id, lease) = held.remove(pick % held.len());
                let current = matches!(model.tasks.get(&id), Some((_, ModelState::Leased { lease: l, .. })) if *l == lease);
                let outcome = if success {
                    AckOutcome::Success(TaskResult::default())
                } else {
                    AckOutcome::Failure {
                        error: TaskError {
                            kind: "E".into(),
                            message: "m".into(),
                        },
                        fatal: false,
                        retry_at: None,
                        lost: false,
                    }
                };
                let result = real.broker().ack(id.clone(), lease, outcome).await;
                prop_assert_eq!(
                    result.is_ok(),
                    current,
                    "ack of {} with lease {}: {:?}",
                    id,
                    lease,
                    result.err()
                );
                if current {
                    model.tasks.get_mut(&id).expect("known").1 = ModelState::Done;
                }
            }
            Op::Nack { pick } => {
                let (id, lease) = held.remove(pick % held.len());
                let current = matches!(model.tasks.get(&id), Some((_, ModelState::Leased { lease: l, .. })) if *l == lease);
                let action = NackAction::Requeue { at: When::In(0) };
                let result = real.broker().nack(id.clone(), lease, action).await;
                prop_assert_eq!(
                    result.is_ok(),
                    current,
                    "nack of {}: {:?}",
                    id,
                    result.err()
                );
                if current {
                    model.next_seq += 1;
                    model.tasks.get_mut(&id).expect("known").1 = ModelState::Ready {
                        seq: model.next_seq,
                    };
                }
            }
            Op::Revoke { pick } => {
                if model.tasks.is_empty() {
                    continue;
                }
                let id = model
                    .tasks
                    .keys()
                    .nth(pick % model.tasks.len())
                    .expect("in range")
                    .clone();
                real.broker()
                    .revoke(vec![id.clone()], Vec::new(), 60_000)
                    .await
                    .expect("revoke");
                model.tasks.get_mut(&id).expect("known").1 = ModelState::Done;
            }
            Op::Advance { ms } => {
                real.clock.advance(ms);
                for timer in Timer::ALL {
                    real.broker().tick(timer).await.expect("tick");
                }
                model.release_all_leases(Some(real.clock_now()));
            }
            Op::Restart => {
                real.broker = None;
                real.open();
                model.release_all_leases(None);
            }
        }
        let stats = real.broker().stats(&["q".into()]);
        let counts = stats
            .first()
            .map(|(_, c)| (c.ready, c.leased))
            .unwrap_or_default();
        prop_assert_eq!(counts, model.counts(), "ready and leased counts");
    }
    Ok(())
}

impl Real {
    fn clock_now(&self) -> u64 {
        use stalk_broker::clock::Clock;
        self.clock.now_ms()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn engine_and_store_agree_with_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run(ops))?;
    }
}
