//! Work a running task hands on with its ack: a replacement the task then ends as, and
//! members it adds to its workflow, all in one atomic write.

use super::*;

/// A chain `first -> second` as a workflow.
fn chain_of_two(h: &mut Harness) {
    let mut first = task("first");
    first.flow = Some(NewFlow {
        feeds: vec![(1, 0)],
        ..NewFlow::default()
    });
    let mut second = task("second");
    second.flow = Some(NewFlow {
        inputs: 1,
        ..NewFlow::default()
    });
    h.run(Command::EnqueueWorkflow {
        id: TaskId::new("wf"),
        tree: bytes::Bytes::new(),
        tasks: vec![first, second],
    })
    .expect("enqueue");
}

/// A graft of independent tasks named `ids`; the first `replacing` of them replace the task,
/// as a group (one of them: as that task).
fn graft(ids: &[&str], replacing: usize) -> NewGraft {
    let tasks: Vec<NewTask> = ids
        .iter()
        .map(|id| {
            let mut t = task(id);
            t.flow = Some(NewFlow::default());
            t
        })
        .collect();
    let replacement = (replacing > 0).then(|| Replacement {
        tasks: replacing,
        outputs: (0..replacing).collect(),
        shape: if replacing == 1 {
            Shape::Slot(0)
        } else {
            Shape::List((0u32..).take(replacing).map(Shape::Slot).collect())
        },
    });
    NewGraft {
        tasks,
        replacement,
        tree: bytes::Bytes::new(),
    }
}

fn hand_on(h: &mut Harness, g: &Granted, graft: NewGraft) -> Result<Outcome, EngineError> {
    h.run(Command::Ack {
        id: g.meta.id.to_string(),
        lease_id: g.lease_id,
        outcome: AckOutcome::Graft {
            result: None,
            graft: Box::new(graft),
        },
    })
}

fn ack_value(h: &mut Harness, g: &Granted, value: &'static str) {
    h.run(Command::Ack {
        id: g.meta.id.to_string(),
        lease_id: g.lease_id,
        outcome: AckOutcome::Success(TaskResult {
            value: bytes::Bytes::from_static(value.as_bytes()),
            content_type: "application/json".into(),
        }),
    })
    .expect("ack");
}

/// The lease of task `id`: from `held` (leased before), or leased now with the rest of the
/// ready tasks, which `held` keeps.
fn take(h: &mut Harness, held: &mut Vec<Granted>, id: &str) -> Granted {
    if !held.iter().any(|g| g.meta.id.to_string() == id) {
        held.extend(h.lease("q", 100));
    }
    let at = held.iter().position(|g| g.meta.id.to_string() == id);
    match at {
        Some(at) => held.remove(at),
        None => panic!("{id} is not leased: {:?}", ids(held)),
    }
}

fn result_of(outcome: &Outcome, id: &str) -> Option<bytes::Bytes> {
    outcome.writes.iter().find_map(|w| match w {
        Write::Update(u) if u.0.id.to_string() == id => u.1.as_ref().map(|r| r.value.clone()),
        Write::Atomic(inner) => result_of(
            &Outcome {
                writes: inner.clone(),
                ..Outcome::new(Reply::Ticked(0))
            },
            id,
        ),
        _ => None,
    })
}

#[test]
fn a_replaced_step_waits_for_its_replacement_and_passes_its_result_on() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    chain_of_two(&mut h);
    let first = take(&mut h, &mut held, "first");
    let outcome = hand_on(&mut h, &first, graft(&["r1", "r2"], 2)).expect("replace");
    assert_eq!(outcome.reply, Reply::State(TaskState::Waiting));
    assert!(
        matches!(outcome.writes.as_slice(), [Write::Atomic(inner)] if inner.iter().any(|w| matches!(w, Write::PutGraft { .. }))),
        "one atomic write with the graft: {:?}",
        outcome.writes
    );
    assert_eq!(h.state("first"), Some(TaskState::Waiting));
    assert_eq!(h.state("second"), Some(TaskState::Waiting));
    let r2 = take(&mut h, &mut held, "r2");
    ack_value(&mut h, &r2, "2");
    assert_eq!(
        h.state("first"),
        Some(TaskState::Waiting),
        "r1 is not in yet"
    );
    let r1 = take(&mut h, &mut held, "r1");
    let last = h
        .run(Command::Ack {
            id: "r1".into(),
            lease_id: r1.lease_id,
            outcome: AckOutcome::Success(TaskResult {
                value: bytes::Bytes::from_static(b"1"),
                content_type: String::new(),
            }),
        })
        .expect("ack");
    assert_eq!(h.state("first"), Some(TaskState::Succeeded));
    assert_eq!(h.state("second"), Some(TaskState::Ready));
    assert_eq!(
        result_of(&last, "first").as_deref(),
        Some(&b"[1,2]"[..]),
        "a group's results, in order"
    );
    let (workflow, tasks) = h.engine.workflow("wf").expect("workflow");
    assert_eq!(tasks.len(), 4, "the replacement joined the workflow");
    let views = workflow.graft_views();
    assert_eq!((views[0].by, views[0].first, views[0].replaced), (0, 2, 2));
}

#[test]
fn a_repeated_replace_ack_creates_nothing_more() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    h.enqueue(task("t"));
    let t = take(&mut h, &mut held, "t");
    hand_on(&mut h, &t, graft(&["r"], 1)).expect("replace");
    let again = hand_on(&mut h, &t, graft(&["r-again"], 1)).expect("repeat");
    assert_eq!(again.reply, Reply::State(TaskState::Waiting));
    assert!(again.writes.is_empty());
    assert_eq!(h.state("r-again"), None);
    let (_, tasks) = h
        .engine
        .workflow("t")
        .expect("a task in no workflow becomes one");
    assert_eq!(tasks.len(), 2);
}

#[test]
fn a_failed_replacement_fails_the_task_with_its_kind_and_the_chain_stops() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    chain_of_two(&mut h);
    let first = take(&mut h, &mut held, "first");
    hand_on(&mut h, &first, graft(&["r"], 1)).expect("replace");
    let r = take(&mut h, &mut held, "r");
    assert_eq!(h.fail(&r, true), TaskState::Failed);
    assert_eq!(h.state("first"), Some(TaskState::Failed));
    let error = h.engine.get("first").and_then(|m| m.error().cloned());
    assert_eq!(error.map(|e| e.kind), Some("Boom".to_owned()));
    assert_eq!(h.state("second"), Some(TaskState::Revoked));
}

#[test]
fn revoking_a_replaced_task_revokes_its_replacement_and_theirs() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    h.enqueue(task("t"));
    let t = take(&mut h, &mut held, "t");
    hand_on(&mut h, &t, graft(&["r", "added"], 1)).expect("replace");
    let r = take(&mut h, &mut held, "r");
    hand_on(&mut h, &r, graft(&["rr"], 1)).expect("replace again");
    h.run(revoke(&["t"])).expect("revoke");
    for id in ["t", "r", "rr"] {
        assert_eq!(h.state(id), Some(TaskState::Revoked), "{id}");
    }
    assert_ne!(
        h.state("added"),
        Some(TaskState::Revoked),
        "added members are not the replacement"
    );
}

#[test]
fn added_members_join_the_workflow_with_the_success_and_keep_it_unfinished() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    chain_of_two(&mut h);
    let first = take(&mut h, &mut held, "first");
    let outcome = h
        .run(Command::Ack {
            id: "first".into(),
            lease_id: first.lease_id,
            outcome: AckOutcome::Graft {
                result: Some(TaskResult::default()),
                graft: Box::new(graft(&["extra"], 0)),
            },
        })
        .expect("ack");
    assert_eq!(outcome.reply, Reply::State(TaskState::Succeeded));
    assert_eq!(
        h.state("second"),
        Some(TaskState::Ready),
        "nothing waits for it"
    );
    assert_eq!(h.state("extra"), Some(TaskState::Ready));
    let second = take(&mut h, &mut held, "second");
    let done = h.ack_ok(&second).expect("ack");
    let finished = |o: &Outcome| {
        o.events
            .iter()
            .any(|e| e.kind == EventKind::WorkflowFinished)
    };
    assert!(!finished(&done), "the added member still runs");
    let extra = take(&mut h, &mut held, "extra");
    let done = h.ack_ok(&extra).expect("ack");
    assert!(finished(&done));
}

#[test]
fn a_thousand_replacements_deep_end_in_a_loop_not_a_deep_recursion() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    h.enqueue(task("t0"));
    let mut current = take(&mut h, &mut held, "t0");
    let depth = 3_000;
    let names: Vec<String> = (1..=depth).map(|i| format!("t{i}")).collect();
    for name in &names {
        hand_on(&mut h, &current, graft(&[name.as_str()], 1)).expect("replace");
        current = take(&mut h, &mut held, name);
    }
    ack_value(&mut h, &current, "42");
    assert_eq!(h.state("t0"), Some(TaskState::Succeeded));
    let (_, tasks) = h.engine.workflow("t0").expect("workflow");
    assert!(tasks.iter().all(|m| m.state == TaskState::Succeeded));
    assert_eq!(tasks.len(), depth + 1);
}

#[test]
fn a_graft_past_the_sub_ids_of_one_command_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let mut held = Vec::new();
    h.enqueue(task("t"));
    let t = take(&mut h, &mut held, "t");
    let names: Vec<String> = (0..(1 << SUB_BITS)).map(|i| format!("n{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let err = hand_on(&mut h, &t, graft(&refs, 1)).expect_err("too many");
    assert!(
        matches!(err, EngineError::InvalidArgument { .. }),
        "{err:?}"
    );
    assert_eq!(h.state("t"), Some(TaskState::Leased));
    assert!(h.engine.workflow("t").is_none());
}
