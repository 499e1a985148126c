//! Workflow steps: what waits, what is released, and the order of the writes that makes a
//! crash at any point neither lose nor repeat a step.

use super::*;

/// A chain `first -> second` as one command: the second waits for one input.
fn chain_of_two(h: &mut Harness) {
    let mut first = task("first");
    first.flow = Some(NewFlow {
        inputs: 0,
        feeds: vec![(1, 0)],
    });
    let mut second = task("second");
    second.flow = Some(NewFlow {
        inputs: 1,
        feeds: Vec::new(),
    });
    h.run(Command::Enqueue(vec![first, second]))
        .expect("enqueue");
}

#[test]
fn a_step_waits_until_the_one_before_succeeds_and_its_input_is_written_first() {
    let mut h = Harness::new();
    chain_of_two(&mut h);
    assert_eq!(h.state("second"), Some(TaskState::Waiting));
    let granted = h.lease("q", 10);
    assert_eq!(granted.len(), 1, "only the first step is ready");
    let outcome = h.ack_ok(&granted[0]).expect("ack");
    assert_eq!(h.state("second"), Some(TaskState::Ready));
    let position =
        |wanted: &dyn Fn(&Write) -> bool| outcome.writes.iter().position(wanted).expect("written");
    let input = position(&|w| matches!(w, Write::FlowInput { slot: 0, .. }));
    let success = position(
        &|w| matches!(w, Write::Update(u) if u.0.id.to_string() == "first" && u.0.state == TaskState::Succeeded),
    );
    assert!(
        input < success,
        "the input before the success: {:?}",
        outcome.writes
    );
}

#[test]
fn a_step_that_fails_for_good_revokes_the_next_after_its_own_failure_is_written() {
    let mut h = Harness::new();
    chain_of_two(&mut h);
    let granted = h.lease("q", 10);
    let outcome = h
        .run(Command::Ack {
            id: "first".into(),
            lease_id: granted[0].lease_id,
            outcome: AckOutcome::Failure {
                error: TaskError {
                    kind: "Boom".into(),
                    message: "it broke".into(),
                },
                fatal: true,
                retry_at: None,
                lost: false,
            },
        })
        .expect("ack");
    assert_eq!(h.state("second"), Some(TaskState::Revoked));
    let error = h.engine.get("second").and_then(|m| m.error().cloned());
    assert_eq!(error.map(|e| e.kind), Some("ParentFailed".to_owned()));
    let updated: Vec<String> = outcome
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::Update(u) => Some(u.0.id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(updated, ["first", "second"]);
}

#[test]
fn a_workflow_with_a_task_that_would_expire_is_refused_whole() {
    let mut h = Harness::new();
    let mut first = task("first");
    first.flow = Some(NewFlow::default());
    let mut late = task("late");
    late.flow = Some(NewFlow::default());
    late.expires = Some(When::At(1));
    let outcome = h.run(Command::Enqueue(vec![first, late])).expect("enqueue");
    let Reply::Enqueued(results) = outcome.reply else {
        panic!("{:?}", outcome.reply);
    };
    assert!(results.iter().all(|r| matches!(r, Enqueued::Refused(_))));
    assert!(outcome.writes.is_empty());
    assert_eq!(h.state("first"), None);
}
