//! Starting pushed attempts: a prefetch lease becomes a running one with its start time, and a
//! task past its expiry is refused and expires instead of running.

use super::*;

fn push(h: &mut Harness) -> Granted {
    let outcome = h
        .run(Command::Lease {
            queues: vec!["q".into()],
            max: 1,
            lease_ms: Some(10_000),
            prefetch: true,
            worker: None,
        })
        .expect("lease");
    match outcome.reply {
        Reply::Leased(mut granted) => granted.remove(0),
        other => panic!("lease answered {other:?}"),
    }
}

fn start(h: &mut Harness, g: &Granted) -> Result<u64, (EngineError, Option<TaskState>)> {
    let outcome = h
        .run(Command::Start(vec![(
            g.meta.id.to_string(),
            g.lease_id,
            30_000,
        )]))
        .expect("start");
    match outcome.reply {
        Reply::Started(mut results) => results.remove(0),
        other => panic!("start answered {other:?}"),
    }
}

#[test]
fn a_pushed_task_starts_when_its_worker_says_so_not_when_it_is_pushed() {
    let mut h = Harness::new();
    h.enqueue(task("t"));
    let pushed = push(&mut h);
    assert_eq!(h.engine.get("t").unwrap().cold().started_ms, 0);
    assert!(h.engine.get("t").unwrap().cold().prefetched);
    h.now += 250;
    assert_eq!(start(&mut h, &pushed), Ok(h.now + 30_000));
    let meta = h.engine.get("t").unwrap();
    assert_eq!(meta.cold().started_ms, h.now, "started_at is the start");
    assert!(!meta.cold().prefetched);
    assert_eq!(meta.attempts, 1);
}

#[test]
fn a_task_that_expired_in_the_buffer_is_refused_at_start_and_expires() {
    let mut h = Harness::new();
    h.enqueue(NewTask {
        expires: Some(When::In(100)),
        ..task("t")
    });
    let pushed = push(&mut h);
    h.now += 100;
    let refused = start(&mut h, &pushed);
    assert!(
        matches!(&refused, Err((EngineError::StaleLease { why, .. }, Some(TaskState::Expired))) if why.contains("expired")),
        "{refused:?}"
    );
    assert_eq!(h.state("t"), Some(TaskState::Expired));
    assert_eq!(h.engine.get("t").unwrap().attempts, 0, "it never ran");
}

#[test]
fn revoking_a_pushed_task_says_it_was_prefetched_and_refuses_its_start() {
    let mut h = Harness::new();
    h.enqueue(task("t"));
    let pushed = push(&mut h);
    let outcome = h.run(revoke(&["t"])).unwrap();
    assert_eq!(
        outcome.reply,
        Reply::Revoked(RevokeReport {
            ids: vec![("t".into(), Revocation::Prefetched)],
            matched: Vec::new(),
        })
    );
    assert_eq!(outcome.stopped.len(), 1);
    assert_eq!(h.engine.get("t").unwrap().attempts, 0, "it never ran");
    assert!(matches!(
        start(&mut h, &pushed),
        Err((EngineError::StaleLease { .. }, Some(TaskState::Revoked)))
    ));
}

#[test]
fn a_nacked_unstarted_task_was_no_attempt() {
    let mut h = Harness::new();
    h.enqueue(task("t"));
    let pushed = push(&mut h);
    h.run(Command::Nack {
        id: "t".into(),
        lease_id: pushed.lease_id,
        action: NackAction::Requeue { at: When::In(0) },
    })
    .unwrap();
    let meta = h.engine.get("t").unwrap();
    assert_eq!((meta.state, meta.attempts), (TaskState::Ready, 0));
}
