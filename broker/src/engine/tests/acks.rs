//! Acks and failures: repeated acks, retries with backoff, dead letters.

use super::*;

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
