//! Engine unit tests: time and sequence driven by hand, no network, no disk.

use super::*;

mod limited;

const TTL: u64 = 60_000;

/// Strict priorities (no aging) unless a test says otherwise.
const CONFIG: EngineConfig = EngineConfig {
    result_ttl_ms: TTL,
    priority_aging_ms: 0,
};

/// An engine with a hand-driven clock and sequencer.
struct Harness {
    engine: Engine,
    now: u64,
    seq: u64,
}

impl Harness {
    fn new() -> Self {
        Self {
            engine: Engine::new(CONFIG),
            now: 1_000_000,
            seq: 1,
        }
    }

    fn run(&mut self, command: Command) -> Result<Outcome, EngineError> {
        let ctx = Ctx {
            now_ms: self.now,
            seq: self.seq,
        };
        self.seq += 1;
        self.engine.apply(command, ctx)
    }

    fn enqueue(&mut self, task: NewTask) -> Enqueued {
        let outcome = self.run(Command::Enqueue(vec![task])).expect("enqueue");
        let Reply::Enqueued(mut results) = outcome.reply else {
            panic!("enqueue answered {:?}", outcome.reply)
        };
        results.remove(0)
    }

    fn lease(&mut self, queue: &str, max: usize) -> Vec<Granted> {
        let outcome = self
            .run(Command::Lease {
                queues: vec![queue.to_string()],
                max,
                lease_ms: Some(5_000),
                prefetch: false,
            })
            .expect("lease");
        let Reply::Leased(granted) = outcome.reply else {
            panic!("lease answered {:?}", outcome.reply)
        };
        granted
    }

    fn ack_ok(&mut self, g: &Granted) -> Result<Outcome, EngineError> {
        self.run(Command::Ack {
            id: g.meta.id.to_string(),
            lease_id: g.lease_id,
            outcome: AckOutcome::Success(TaskResult::default()),
        })
    }

    fn fail(&mut self, g: &Granted, fatal: bool) -> TaskState {
        let outcome = self
            .run(Command::Ack {
                id: g.meta.id.to_string(),
                lease_id: g.lease_id,
                outcome: AckOutcome::Failure {
                    error: TaskError {
                        kind: "Boom".into(),
                        message: "it broke".into(),
                    },
                    fatal,
                    retry_at: None,
                    lost: false,
                },
            })
            .expect("failure ack");
        let Reply::State(state) = outcome.reply else {
            panic!("ack answered {:?}", outcome.reply)
        };
        state
    }

    fn tick(&mut self, timer: Timer) -> usize {
        let outcome = self
            .run(Command::Tick { timer, limit: 1000 })
            .expect("tick");
        let Reply::Ticked(n) = outcome.reply else {
            panic!("tick answered {:?}", outcome.reply)
        };
        n
    }

    fn state(&self, id: &str) -> Option<TaskState> {
        self.engine.get(id).map(|m| m.state)
    }
}

fn task(id: &str) -> NewTask {
    NewTask {
        id: TaskId::new(id),
        name: "test.task".into(),
        queue: "q".into(),
        priority: 0,
        unique_key: None,
        options: TaskOptions::default(),
        expires: None,
        eta: None,
        body: TaskBody::default(),
    }
}

fn ids(granted: &[Granted]) -> Vec<String> {
    granted.iter().map(|g| g.meta.id.to_string()).collect()
}

#[test]
fn an_aging_low_priority_task_goes_ahead_of_a_stream_of_newer_high_ones() {
    let aged = |aging_ms: u64| {
        let mut h = Harness::new();
        h.engine = Engine::new(EngineConfig {
            priority_aging_ms: aging_ms,
            ..CONFIG
        });
        h.enqueue(task("low"));
        // Every second a new priority-9 task arrives and one task is leased.
        for second in 1..=12 {
            h.now += 1_000;
            h.enqueue(NewTask {
                priority: 9,
                ..task(&format!("high-{second}"))
            });
            if ids(&h.lease("q", 1)) == ["low"] {
                return Some(second);
            }
        }
        None
    };
    assert_eq!(aged(0), None, "without aging the stream starves it");
    assert_eq!(
        aged(1_000),
        Some(9),
        "after 9 s at one level per second it ties a fresh 9 and is older"
    );
}

#[test]
fn higher_priorities_lease_first_and_fifo_within_a_priority() {
    let mut h = Harness::new();
    for (id, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 9), ("e", 5)] {
        h.enqueue(NewTask {
            priority,
            ..task(id)
        });
    }
    assert_eq!(ids(&h.lease("q", 10)), ["d", "b", "e", "a", "c"]);
}

#[test]
fn an_ack_with_a_lease_that_expired_is_refused_and_the_new_lease_wins() {
    let mut h = Harness::new();
    h.enqueue(task("t"));
    let first = h.lease("q", 1).remove(0);
    assert_eq!(first.meta.attempts, 1);
    h.now += 5_001;
    assert_eq!(h.tick(Timer::Lease), 1, "the expired lease is reaped");
    let second = h.lease("q", 1).remove(0);
    assert_eq!(
        second.meta.attempts, 2,
        "redelivery counts as a new attempt"
    );
    let stale = h.ack_ok(&first).unwrap_err();
    assert!(
        matches!(stale, EngineError::StaleLease { .. }),
        "stale ack: {stale:?}"
    );
    h.ack_ok(&second).expect("current lease acks");
    assert_eq!(h.state("t"), Some(TaskState::Succeeded));
}

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
    h.run(Command::ExtendMany(vec![(
        "t".into(),
        again.lease_id,
        1_000,
    )]))
    .expect("started");
    h.now += 1_001;
    h.tick(Timer::Lease);
    assert_eq!(
        h.state("t"),
        Some(TaskState::Failed),
        "a started attempt whose lease ran out is lost, and the budget is 0"
    );
}

#[test]
fn a_repeated_ack_answers_ok_and_changes_nothing() {
    let mut h = Harness::new();
    h.enqueue(task("t"));
    let g = h.lease("q", 1).remove(0);
    h.ack_ok(&g).expect("first ack");
    let again = h.ack_ok(&g).expect("repeated ack is fine");
    assert!(again.writes.is_empty(), "a repeat writes nothing");
    assert_eq!(again.reply, Reply::State(TaskState::Succeeded));
    let contrary = h.run(Command::Ack {
        id: "t".into(),
        lease_id: g.lease_id,
        outcome: AckOutcome::Failure {
            error: TaskError {
                kind: "E".into(),
                message: "m".into(),
            },
            fatal: false,
            retry_at: None,
            lost: false,
        },
    });
    assert!(
        matches!(contrary, Err(EngineError::StaleLease { .. })),
        "a failure after success is refused: {contrary:?}"
    );
}

#[test]
fn failures_retry_with_backoff_then_fail_into_the_dead_letter_set() {
    let mut h = Harness::new();
    h.enqueue(NewTask {
        options: TaskOptions {
            max_retries: 2,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 1_000,
            ..TaskOptions::default()
        },
        ..task("t")
    });
    for attempt in 1..=2 {
        let g = h.lease("q", 1).remove(0);
        assert_eq!(g.meta.attempts, attempt);
        assert_eq!(h.fail(&g, false), TaskState::Retrying);
        let due = h.engine.get("t").map(|m| m.due_ms).unwrap();
        assert!(
            due <= h.now + 100 * (1 << (attempt - 1)),
            "backoff within its ceiling"
        );
        assert!(
            h.lease("q", 1).is_empty(),
            "a retrying task is not leasable yet"
        );
        h.now = due;
        h.tick(Timer::Due);
    }
    let last = h.lease("q", 1).remove(0);
    assert_eq!(h.fail(&last, false), TaskState::Failed);
    assert_eq!(h.engine.stats(&[])[0].1.dead, 1);
    let outcome = h
        .run(Command::Replay {
            queue: "q".into(),
            ids: vec![],
            limit: 10,
        })
        .unwrap();
    assert_eq!(outcome.reply, Reply::Replayed(vec![TaskId::new("t")]));
    let replayed = h.lease("q", 1).remove(0);
    assert_eq!(
        replayed.meta.attempts, 4,
        "attempts count on after a replay"
    );
    assert_eq!(
        h.fail(&replayed, false),
        TaskState::Retrying,
        "fresh retry budget"
    );
}

#[test]
fn a_fatal_failure_skips_the_remaining_retries() {
    let mut h = Harness::new();
    h.enqueue(task("t"));
    let g = h.lease("q", 1).remove(0);
    assert_eq!(h.fail(&g, true), TaskState::Failed);
}

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
    let outcome = h
        .run(Command::Revoke(vec![
            "running".into(),
            "later".into(),
            "nope".into(),
        ]))
        .unwrap();
    assert_eq!(
        outcome.reply,
        Reply::Revoked(vec![
            ("running".into(), Some(TaskState::Revoked)),
            ("later".into(), Some(TaskState::Revoked)),
            ("nope".into(), None),
        ])
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

#[test]
fn listing_ready_tasks_pages_in_lease_order() {
    let mut h = Harness::new();
    for (i, priority) in [0u8, 9, 0, 9, 5].into_iter().enumerate() {
        h.enqueue(NewTask {
            priority,
            ..task(&format!("t{i}"))
        });
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = h.engine.list("q", TaskState::Ready, token, 2);
        seen.extend(page.tasks.iter().map(|m| m.id.to_string()));
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["t1", "t3", "t4", "t0", "t2"]);
}

#[test]
fn purge_deletes_waiting_tasks_but_not_leased_ones() {
    let mut h = Harness::new();
    h.enqueue(task("leased"));
    let _g = h.lease("q", 1);
    h.enqueue(task("ready"));
    h.enqueue(NewTask {
        eta: Some(When::In(10_000)),
        ..task("scheduled")
    });
    let outcome = h
        .run(Command::Purge {
            queue: "q".into(),
            dead_letters: false,
        })
        .unwrap();
    assert_eq!(outcome.reply, Reply::Purged(2));
    assert_eq!(h.state("ready"), None);
    assert_eq!(h.state("scheduled"), None);
    assert_eq!(h.state("leased"), Some(TaskState::Leased));
    let counts = h.engine.stats(&["q".into()])[0].1;
    assert_eq!((counts.ready, counts.scheduled, counts.leased), (0, 0, 1));
}

fn every(name: &str, every_ms: u64) -> schedule::Schedule {
    schedule::Schedule {
        key: 0,
        name: name.into(),
        recurrence: schedule::Recurrence::Every {
            every_ms,
            anchor_ms: 0,
        },
        template: task(""),
        misfire: schedule::Misfire::Skip,
        grace_ms: 1_000,
        overlap: schedule::Overlap::Allow,
        paused: false,
        next_fire_ms: 0,
        last_fire_ms: 0,
        last_task_id: String::new(),
    }
}

fn put(h: &mut Harness, schedule: schedule::Schedule) -> schedule::Schedule {
    match h
        .run(Command::PutSchedule(Box::new(schedule)))
        .unwrap()
        .reply
    {
        Reply::Schedule(s) => *s,
        other => panic!("put answered {other:?}"),
    }
}

#[test]
fn a_schedule_fires_each_slot_once_with_a_slot_id() {
    let mut h = Harness::new();
    let start = h.now;
    let stored = put(&mut h, every("tick", 1_000));
    assert_eq!(stored.next_fire_ms, start + 1_000);
    assert_eq!(h.engine.next_deadline(Timer::Schedule), Some(start + 1_000));
    h.now += 999;
    assert_eq!(h.tick(Timer::Schedule), 0, "not yet");
    h.now += 1;
    assert_eq!(h.tick(Timer::Schedule), 1);
    assert_eq!(h.tick(Timer::Schedule), 0, "the slot fired once");
    let id = format!("tick@{}", start + 1_000);
    assert_eq!(h.state(&id), Some(TaskState::Ready));
    // After a crash that kept the task but not the schedule's progress, the slot is due again
    // and enqueues nothing new: the slot id is taken.
    let mut again = h.engine.schedule("tick").cloned().unwrap();
    again.next_fire_ms = start + 1_000;
    h.engine.restore_schedules([again]);
    assert_eq!(h.tick(Timer::Schedule), 1);
    assert_eq!(h.engine.stats(&[])[0].1.ready, 1, "still one task");
}

#[test]
fn overlap_skip_waits_for_the_previous_run_and_pause_stops_firing() {
    let mut h = Harness::new();
    put(
        &mut h,
        schedule::Schedule {
            overlap: schedule::Overlap::Skip,
            ..every("job", 1_000)
        },
    );
    h.now += 1_000;
    h.tick(Timer::Schedule);
    h.now += 1_000;
    h.tick(Timer::Schedule);
    assert_eq!(
        h.engine.stats(&[])[0].1.ready,
        1,
        "the second slot was skipped"
    );
    let run = h.lease("q", 1).remove(0);
    h.ack_ok(&run).unwrap();
    h.now += 1_000;
    h.tick(Timer::Schedule);
    assert_eq!(h.engine.stats(&[])[0].1.ready, 1, "the next slot fired");
    h.run(Command::PauseSchedule {
        name: "job".into(),
        paused: true,
    })
    .unwrap();
    assert_eq!(h.engine.next_deadline(Timer::Schedule), None);
    assert!(matches!(
        h.run(Command::DeleteSchedule("nope".into())),
        Err(EngineError::ScheduleNotFound { .. })
    ));
}
