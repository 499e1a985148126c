//! Workflow steps: what waits, what is released, and the order of the writes that makes a
//! crash at any point neither lose nor repeat a step.

use super::*;

/// A chain `first -> second` as one command: the second waits for one input.
fn chain_of_two(h: &mut Harness) {
    let mut first = task("first");
    first.flow = Some(NewFlow {
        inputs: 0,
        feeds: vec![(1, 0)],
        workflow: 0,
        mode: FlowMode::FailFast,
        key_feeds: Vec::new(),
    });
    let mut second = task("second");
    second.flow = Some(NewFlow {
        inputs: 1,
        feeds: Vec::new(),
        workflow: 0,
        mode: FlowMode::FailFast,
        key_feeds: Vec::new(),
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

#[test]
fn a_workflow_is_kept_while_a_task_of_it_is_and_revoking_its_id_revokes_the_rest() {
    let mut h = Harness::new();
    let mut only = task("only");
    only.flow = Some(NewFlow::default());
    h.run(Command::EnqueueWorkflow {
        id: TaskId::new("wf"),
        tree: bytes::Bytes::new(),
        tasks: vec![only],
    })
    .expect("enqueue");
    let granted = h.lease("q", 1);
    h.ack_ok(&granted[0]).expect("ack");
    assert!(h.engine.workflow("wf").is_some());
    h.now += TTL + 1;
    let purged = h
        .run(Command::Tick {
            timer: Timer::Purge,
            limit: 10,
        })
        .expect("purge");
    // The workflow's key: the first command's sub-id after its one task.
    let key = (1 << SUB_BITS) | 1;
    assert!(purged.writes.contains(&Write::DeleteWorkflow(key)));
    assert!(h.engine.workflow("wf").is_none(), "gone with its last task");

    // Revoking a workflow's id revokes every task of it that has not finished.
    chain_of_two(&mut h);
    let mut a = task("a");
    a.flow = Some(NewFlow::default());
    let mut b = task("b");
    b.flow = Some(NewFlow {
        inputs: 1,
        feeds: Vec::new(),
        workflow: 0,
        mode: FlowMode::FailFast,
        key_feeds: Vec::new(),
    });
    a.flow.as_mut().expect("flow").feeds.push((1, 0));
    h.run(Command::EnqueueWorkflow {
        id: TaskId::new("wf2"),
        tree: bytes::Bytes::new(),
        tasks: vec![a, b],
    })
    .expect("enqueue");
    let outcome = h.run(revoke(&["wf2"])).expect("revoke");
    let Reply::Revoked(report) = outcome.reply else {
        panic!("{:?}", outcome.reply);
    };
    assert_eq!(report.ids, [("wf2".to_owned(), Revocation::Waiting)]);
    assert_eq!(h.state("a"), Some(TaskState::Revoked));
    assert_eq!(h.state("b"), Some(TaskState::Revoked));
    assert_eq!(
        h.state("second"),
        Some(TaskState::Waiting),
        "another workflow"
    );
}

#[test]
fn settling_after_a_restart_revokes_a_step_whose_parent_failure_was_written_alone() {
    let mut h = Harness::new();
    chain_of_two(&mut h);
    let waiting = h.engine.get("second").cloned().expect("second");
    let granted = h.lease("q", 1);
    assert_eq!(h.fail(&granted[0], true), TaskState::Failed);
    let failed = h.engine.get("first").cloned().expect("first");
    // A crash wrote the first task's failure, not what follows from it.
    let mut engine = Engine::recover(CONFIG, [failed, waiting]);
    assert_eq!(
        engine.get("second").map(|m| m.state),
        Some(TaskState::Waiting)
    );
    let ctx = Ctx {
        now_ms: h.now,
        seq: h.seq + 1,
    };
    let outcome = engine.apply(Command::SettleFlows, ctx).expect("settle");
    assert_eq!(
        engine.get("second").map(|m| m.state),
        Some(TaskState::Revoked)
    );
    assert!(outcome
        .writes
        .iter()
        .any(|w| matches!(w, Write::FlowInput { input, .. } if input.failed)));
    // Settling again changes nothing.
    let again = engine
        .apply(
            Command::SettleFlows,
            Ctx {
                seq: ctx.seq + 1,
                ..ctx
            },
        )
        .expect("settle");
    assert!(again.writes.is_empty(), "{:?}", again.writes);
}
