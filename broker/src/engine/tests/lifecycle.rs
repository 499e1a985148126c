//! A task's life outside leases: dedup on enqueue, ETA, expiry, revoke, result TTL, recovery.

use super::*;

#[test]
fn the_same_id_or_unique_key_returns_the_existing_task() {
    let mut h = Harness::new();
    assert!(matches!(h.enqueue(task("t")), Enqueued::Created { .. }));
    assert!(matches!(h.enqueue(task("t")), Enqueued::Existing { .. }));
    let keyed = |id: &str| NewTask {
        unique_key: Some("k".into()),
        ..task(id)
    };
    h.enqueue(keyed("u1"));
    let again = h.enqueue(keyed("u2"));
    assert!(
        matches!(&again, Enqueued::Existing { id, .. } if id.matches("u1")),
        "unique key dedups: {again:?}"
    );
    let mut leased = h.lease("q", 10);
    let u1 = leased.iter().position(|g| g.meta.id.matches("u1")).unwrap();
    let g = leased.remove(u1);
    h.ack_ok(&g).unwrap();
    assert!(
        matches!(h.enqueue(keyed("u3")), Enqueued::Created { .. }),
        "the key is free once the holder finished"
    );
}

#[test]
fn revoking_a_leased_task_voids_its_lease() {
    let mut h = Harness::new();
    h.enqueue(task("waiting"));
    h.enqueue(task("running"));
    let running = h
        .lease("q", 2)
        .into_iter()
        .find(|g| g.meta.id.matches("running"))
        .unwrap();
    h.enqueue(task("later"));
    let outcome = h.run(revoke(&["running", "later", "nope"])).unwrap();
    assert_eq!(
        outcome.reply,
        Reply::Revoked(RevokeReport {
            ids: vec![
                ("running".into(), Revocation::Running),
                ("later".into(), Revocation::Waiting),
                ("nope".into(), Revocation::Unknown),
            ],
            matched: Vec::new(),
        })
    );
    assert_eq!(
        outcome.stopped,
        [StoppedLease {
            task_id: running.meta.id.clone(),
            lease_id: running.lease_id,
            state: TaskState::Revoked,
        }],
        "the holder of the revoked lease is to be told"
    );
    assert!(matches!(
        h.ack_ok(&running),
        Err(EngineError::StaleLease { .. })
    ));
    assert!(h.lease("q", 10).is_empty(), "a revoked task never runs");
}

#[test]
fn scheduled_tasks_wait_for_their_eta() {
    let mut h = Harness::new();
    h.enqueue(NewTask {
        eta: Some(When::In(500)),
        ..task("t")
    });
    assert_eq!(h.state("t"), Some(TaskState::Scheduled));
    assert!(h.lease("q", 1).is_empty());
    assert_eq!(h.engine.next_deadline(Timer::Due), Some(h.now + 500));
    let stored: Vec<TaskMeta> = h.engine.tasks.values().map(|m| (**m).clone()).collect();
    h.now += 500;
    let tick = h
        .run(Command::Tick {
            timer: Timer::Due,
            limit: 10,
        })
        .expect("tick");
    assert!(
        tick.writes.is_empty(),
        "becoming ready is derived from the stored record, not written"
    );
    assert_eq!(ids(&h.lease("q", 1)), ["t"]);
    // After a crash, the stored SCHEDULED record past its time is ready again.
    let mut recovered = Harness {
        engine: Engine::recover(CONFIG, stored),
        now: h.now,
        seq: h.seq,
    };
    recovered.tick(Timer::Due);
    assert_eq!(ids(&recovered.lease("q", 1)), ["t"]);
}

#[test]
fn waiting_tasks_expire_visibly() {
    let mut h = Harness::new();
    h.enqueue(NewTask {
        expires: Some(When::In(100)),
        ..task("t")
    });
    h.now += 100;
    assert_eq!(h.tick(Timer::Expiry), 1);
    assert_eq!(h.state("t"), Some(TaskState::Expired));
    assert!(h.lease("q", 1).is_empty());
    let refused = h.enqueue(NewTask {
        expires: Some(When::At(h.now - 1)),
        ..task("past")
    });
    assert!(matches!(
        refused,
        Enqueued::Refused(EngineError::InvalidArgument { .. })
    ));
}

#[test]
fn results_are_purged_after_their_ttl_but_dead_letters_stay() {
    let mut h = Harness::new();
    h.enqueue(task("ok"));
    h.enqueue(NewTask {
        options: TaskOptions {
            max_retries: 0,
            ..TaskOptions::default()
        },
        ..task("bad")
    });
    for g in h.lease("q", 2) {
        if g.meta.id.matches("ok") {
            h.ack_ok(&g).unwrap();
        } else {
            h.fail(&g, false);
        }
    }
    h.now += TTL;
    h.tick(Timer::Purge);
    assert_eq!(h.state("ok"), None, "the result outlived its TTL");
    assert_eq!(h.state("bad"), Some(TaskState::Failed), "dead letters stay");
}

#[test]
fn recovery_makes_leased_tasks_ready_again_in_their_old_place() {
    let mut h = Harness::new();
    for id in ["a", "b", "c"] {
        h.enqueue(task(id));
    }
    let leased = h.lease("q", 2);
    assert_eq!(ids(&leased), ["a", "b"]);
    let stored: Vec<TaskMeta> = h.engine.tasks.values().map(|m| (**m).clone()).collect();
    let mut recovered = Harness {
        engine: Engine::recover(CONFIG, stored.into_iter().rev()),
        now: h.now,
        seq: h.seq,
    };
    assert_eq!(recovered.engine.stats(&[])[0].1.ready, 3);
    let again = recovered.lease("q", 3);
    assert_eq!(ids(&again), ["a", "b", "c"]);
    assert_eq!(again[0].meta.attempts, 2, "the lost attempt counted");
}
