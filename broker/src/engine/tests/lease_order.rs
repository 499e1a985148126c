//! The lease order and READY listings: a listing, page by page, is the order successive leases
//! hand tasks out, with priority aging, tasks that waited for their due time, redeliveries and
//! revoked tasks mixed in.

use proptest::prelude::*;

use super::*;

const AGING_MS: u64 = 1_000;

fn aging_harness() -> Harness {
    let mut h = Harness::new();
    h.engine = Engine::new(EngineConfig {
        priority_aging_ms: AGING_MS,
        ..CONFIG
    });
    h
}

/// One step of a history that builds a queue.
#[derive(Debug, Clone)]
enum Step {
    /// Enqueue a task of this priority, due after this many ms if any.
    Enqueue(u8, Option<u64>),
    /// Move the clock on.
    Wait(u64),
    /// Make the due tasks ready.
    TickDue,
    /// Lease the next task and release it unstarted (it keeps its place).
    Release,
    /// Lease the next task and nack it back to READY at once (it goes to the back).
    Requeue,
    /// Revoke the n-th task enqueued, if it is still waiting.
    Revoke(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..10, proptest::option::weighted(0.3, 0u64..4_000))
            .prop_map(|(p, eta)| Step::Enqueue(p, eta)),
        3 => (0u64..2_500).prop_map(Step::Wait),
        1 => Just(Step::TickDue),
        1 => Just(Step::Release),
        1 => Just(Step::Requeue),
        1 => (0usize..40).prop_map(Step::Revoke),
    ]
}

impl Harness {
    fn play(&mut self, step: &Step, enqueued: &mut usize) {
        match *step {
            Step::Enqueue(priority, eta) => {
                *enqueued += 1;
                self.enqueue(NewTask {
                    priority,
                    eta: eta.map(When::In),
                    ..task(&format!("t{enqueued}"))
                });
            }
            Step::Wait(ms) => self.now += ms,
            Step::TickDue => {
                self.tick(Timer::Due);
            }
            Step::Release | Step::Requeue => {
                let Some(g) = self.lease("q", 1).pop() else {
                    return;
                };
                let command = match step {
                    Step::Release => Command::Release {
                        leases: vec![(g.meta.id.to_string(), g.lease_id, false)],
                        cause: "test".into(),
                    },
                    _ => Command::Nack {
                        id: g.meta.id.to_string(),
                        lease_id: g.lease_id,
                        action: NackAction::Requeue { at: When::In(0) },
                    },
                };
                self.run(command).expect("release or nack");
            }
            Step::Revoke(n) => {
                // Unknown or finished tasks are refused or ignored alike; either is fine here.
                let _ = self.run(revoke(&[&format!("t{n}")]));
            }
        }
    }

    /// Every READY task of `q` listed `page_size` at a time, the clock moving `wait_ms` between
    /// pages.
    fn list_all(&mut self, page_size: usize, wait_ms: u64) -> Vec<String> {
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .engine
                .list("q", TaskState::Ready, token, page_size, self.now)
                .expect("list");
            assert!(page.tasks.len() <= page_size);
            seen.extend(page.tasks.iter().map(|m| m.id.to_string()));
            let Some(next) = page.next else {
                return seen;
            };
            token = Some(next);
            self.now += wait_ms;
        }
    }

    /// Leases one task at a time until none is left; their ids in lease order.
    fn drain(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.lease("q", 1).pop().map(|g| g.meta.id.to_string())).collect()
    }
}

proptest! {
    #[test]
    fn a_ready_listing_is_the_order_successive_leases_hand_out(
        steps in proptest::collection::vec(step(), 1..60),
        page_size in 1usize..5,
        wait_ms in 0u64..3_000,
    ) {
        let mut h = aging_harness();
        let mut enqueued = 0;
        for step in &steps {
            h.play(step, &mut enqueued);
        }
        let listed_at = h.now;
        let listed = h.list_all(page_size, wait_ms);
        h.now = listed_at;
        prop_assert_eq!(&listed, &h.list_all(1_000, 0), "pages continue one order");
        prop_assert_eq!(listed, h.drain());
    }
}

#[test]
fn a_task_that_waited_for_its_due_time_ages_from_then_even_behind_newer_ones() {
    let mut h = aging_harness();
    h.enqueue(NewTask {
        eta: Some(When::In(1_000)),
        ..task("due")
    });
    h.now += 3_000;
    h.enqueue(task("fresh"));
    h.enqueue(NewTask {
        priority: 2,
        ..task("two")
    });
    // The due task reaches its lane only now, behind `fresh`, though it waited longer.
    h.tick(Timer::Due);
    h.now += 1_000;
    let listed = h.list_all(1, 0);
    assert_eq!(listed, ["two", "fresh", "due"], "lanes go in ready order");
    assert_eq!(listed, h.drain());
}

#[test]
fn a_token_of_another_state_is_refused() {
    let mut h = Harness::new();
    h.enqueue(task("a"));
    h.enqueue(task("b"));
    let ready = h
        .engine
        .list("q", TaskState::Ready, None, 1, h.now)
        .unwrap();
    let token = ready.next.expect("a second page");
    let decoded = PageToken::decode(&token.encode()).unwrap();
    assert_eq!(decoded, token, "a token survives its text form");
    let err = h
        .engine
        .list("q", TaskState::Scheduled, Some(token), 1, h.now)
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::InvalidArgument {
                field: "page_token",
                ..
            }
        ),
        "{err:?}"
    );
}
