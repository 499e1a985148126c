//! Leasing: priorities, priority aging, and the fencing of acks by the current lease.

use super::*;

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
