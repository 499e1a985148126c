//! Lost attempts: expired leases, released sessions and prefetches, and their own budget.

use super::*;

/// A task with a lost-attempt budget of `budget` and no retries.
fn fragile(id: &str, budget: u32) -> NewTask {
    NewTask {
        options: TaskOptions {
            max_retries: 0,
            max_lost_attempts: budget,
            ..TaskOptions::default()
        },
        ..task(id)
    }
}

fn lose(h: &mut Harness, g: &Granted, cause: &str) -> TaskState {
    let outcome = h
        .run(Command::Ack {
            id: g.meta.id.to_string(),
            lease_id: g.lease_id,
            outcome: AckOutcome::Failure {
                error: TaskError {
                    kind: "WorkerLost".into(),
                    message: cause.into(),
                },
                fatal: false,
                retry_at: None,
                lost: true,
            },
        })
        .expect("lost ack");
    match outcome.reply {
        Reply::State(state) => state,
        other => panic!("ack answered {other:?}"),
    }
}

#[test]
fn lost_attempts_use_their_own_budget_then_fail_with_the_cause() {
    let mut h = Harness::new();
    h.enqueue(fragile("t", 2));
    for n in 1..=2 {
        let g = h.lease("q", 1).remove(0);
        assert_eq!(
            lose(&mut h, &g, "child killed by SIGKILL"),
            TaskState::Ready
        );
        let error = h.engine.get("t").and_then(|m| m.error().cloned()).unwrap();
        assert!(
            error.message.contains(&format!("lost attempt {n} of 2")),
            "{error:?}"
        );
    }
    let g = h.lease("q", 1).remove(0);
    assert_eq!(g.meta.attempts, 3, "lost attempts still count as attempts");
    assert_eq!(
        lose(&mut h, &g, "child killed by SIGKILL"),
        TaskState::Failed,
        "max_retries is 0, yet two losses were retried: only the third fails it"
    );
    let error = h.engine.get("t").and_then(|m| m.error().cloned()).unwrap();
    assert_eq!(error.kind, "WorkerLost");
    assert!(
        error.message.starts_with("child killed by SIGKILL"),
        "{error:?}"
    );
    assert!(
        error.message.contains("max_lost_attempts is 2"),
        "{error:?}"
    );
}

#[test]
fn expired_leases_and_released_running_leases_are_lost_attempts() {
    let mut h = Harness::new();
    h.enqueue(fragile("t", 1));
    h.lease("q", 1);
    h.now += 5_001;
    h.tick(Timer::Lease);
    assert_eq!(
        h.state("t"),
        Some(TaskState::Ready),
        "the first loss retries"
    );
    let g = h.lease("q", 1).remove(0);
    let unstarted = Command::Release {
        leases: vec![("t".into(), g.lease_id, false)],
        cause: "worker w gone".into(),
    };
    h.run(unstarted).expect("release");
    assert_eq!(
        h.state("t"),
        Some(TaskState::Ready),
        "an unstarted lease is no loss"
    );
    let g = h.lease("q", 1).remove(0);
    let running = Command::Release {
        leases: vec![("t".into(), g.lease_id, true)],
        cause: "worker w gone".into(),
    };
    h.run(running).expect("release");
    assert_eq!(h.state("t"), Some(TaskState::Failed));
    let error = h.engine.get("t").and_then(|m| m.error().cloned()).unwrap();
    assert_eq!(error.kind, "WorkerLost");
    assert!(error.message.starts_with("worker w gone"), "{error:?}");
}

#[test]
fn an_expired_prefetch_lease_is_no_attempt_but_an_expired_started_one_is_lost() {
    let mut h = Harness::new();
    h.enqueue(fragile("t", 0));
    let pushed = |h: &mut Harness| {
        let outcome = h
            .run(Command::Lease {
                queues: vec!["q".into()],
                max: 1,
                lease_ms: Some(1_000),
                prefetch: true,
                worker: None,
            })
            .expect("lease");
        match outcome.reply {
            Reply::Leased(mut granted) => granted.remove(0),
            other => panic!("lease answered {other:?}"),
        }
    };
    pushed(&mut h);
    h.now += 1_001;
    h.tick(Timer::Lease);
    assert_eq!(h.state("t"), Some(TaskState::Ready));
    let again = pushed(&mut h);
    assert_eq!(again.meta.attempts, 1, "the unstarted push was no attempt");
    h.run(Command::Start(vec![("t".into(), again.lease_id, 1_000)]))
        .expect("started");
    h.now += 1_001;
    h.tick(Timer::Lease);
    assert_eq!(
        h.state("t"),
        Some(TaskState::Failed),
        "a started attempt whose lease ran out is lost, and the budget is 0"
    );
}
