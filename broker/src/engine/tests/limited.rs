//! Limits in the engine: rates, concurrency caps, keyed limits, parked tasks.

use super::*;
use crate::engine::limits::{Limit, LimitKey, LimitScope, RateLimit};

fn key(scope: &str, per: Option<&str>) -> LimitKey {
    LimitKey {
        scope: scope.parse().unwrap(),
        per: per.map(str::to_string),
    }
}

fn rate(text: &str, burst: u32) -> Limit {
    Limit {
        rate: Some(RateLimit::parse(text, burst).unwrap()),
        concurrency: None,
    }
}

fn cap(max: u32) -> Limit {
    Limit {
        rate: None,
        concurrency: Some(max),
    }
}

impl Harness {
    fn set_limit(&mut self, key: LimitKey, limit: Option<Limit>) -> Outcome {
        self.run(Command::SetLimit { key, limit }).unwrap()
    }
}

fn named(id: &str, name: &str) -> NewTask {
    NewTask {
        name: name.into(),
        ..task(id)
    }
}

fn of_tenant(id: &str, tenant: &str) -> NewTask {
    let mut task = task(id);
    task.body.headers.insert("tenant".into(), tenant.into());
    task
}

fn ready_ids(h: &Harness) -> Vec<String> {
    h.engine
        .list("q", TaskState::Ready, None, 100, h.now)
        .unwrap()
        .tasks
        .iter()
        .map(|m| m.id.to_string())
        .collect()
}

#[test]
fn a_rate_limited_task_waits_in_place_without_holding_back_others() {
    let mut h = Harness::new();
    h.set_limit(key("task:slow", None), Some(rate("1/s", 1)));
    for (id, name) in [
        ("s1", "slow"),
        ("s2", "slow"),
        ("f1", "fast"),
        ("s3", "slow"),
        ("f2", "fast"),
    ] {
        h.enqueue(named(id, name));
    }
    assert_eq!(ids(&h.lease("q", 10)), ["s1", "f1", "f2"]);
    assert_eq!(
        h.engine.stats(&[])[0].1.ready,
        2,
        "s2 and s3 still wait, READY"
    );
    assert_eq!(ready_ids(&h), ["s2", "s3"], "listed in their places");
    let held = h.engine.held(h.engine.get("s2").unwrap().key).unwrap();
    assert_eq!(
        (held.limit.as_str(), held.until_ms),
        ("rate limit task:slow", h.now + 1_000)
    );
    assert_eq!(h.engine.next_deadline(Timer::Limit), Some(h.now + 1_000));
    h.now += 1_000;
    let wake = h
        .run(Command::Tick {
            timer: Timer::Limit,
            limit: 10,
        })
        .unwrap();
    assert_eq!(wake.ready_queues.len(), 1, "the queue's leasers look again");
    assert_eq!(
        ids(&h.lease("q", 10)),
        ["s2"],
        "in its place, one per second"
    );
    h.set_limit(key("task:slow", None), None);
    assert_eq!(
        ids(&h.lease("q", 10)),
        ["s3"],
        "a removed limit lets the rest go at once"
    );
}

#[test]
fn a_concurrency_cap_holds_and_an_ended_lease_lets_the_next_go() {
    let mut h = Harness::new();
    h.set_limit(key("task:c", None), Some(cap(2)));
    for id in ["c1", "c2", "c3", "c4"] {
        h.enqueue(named(id, "c"));
    }
    h.enqueue(task("free"));
    let first = h.lease("q", 10);
    assert_eq!(ids(&first), ["c1", "c2", "free"]);
    let held = h.engine.held(h.engine.get("c3").unwrap().key).unwrap();
    assert_eq!(
        (held.limit.as_str(), held.until_ms),
        ("concurrency cap task:c (2 of 2 running)", 0)
    );
    assert!(h.lease("q", 10).is_empty(), "two are running");
    let acked = h.ack_ok(&first[0]).unwrap();
    assert_eq!(
        acked.ready_queues.len(),
        1,
        "the queue's leasers look again"
    );
    assert_eq!(ids(&h.lease("q", 10)), ["c3"]);
    // A failed attempt ends its lease too, as does a lease that runs out.
    assert_eq!(h.fail(&first[1], true), TaskState::Failed);
    assert_eq!(ids(&h.lease("q", 10)), ["c4"]);
    h.ack_ok(&first[2]).unwrap();
    h.now += 5_000;
    assert_eq!(h.tick(Timer::Lease), 2, "c3 and c4 ran out");
    assert_eq!(h.state("c4"), Some(TaskState::Ready), "lost, retried");
    assert_eq!(ids(&h.lease("q", 10)), ["c3", "c4"]);
    let info = h.engine.limits();
    assert_eq!((info[0].running, info[0].waiting), (2, 0));
}

#[test]
fn a_cap_set_at_runtime_counts_the_leases_already_running() {
    let mut h = Harness::new();
    for id in ["a", "b", "c", "d"] {
        h.enqueue(task(id));
    }
    let running = h.lease("q", 3);
    h.set_limit(key("queue:q", None), Some(cap(2)));
    assert_eq!(h.engine.limits()[0].running, 3);
    assert!(
        h.lease("q", 10).is_empty(),
        "three run against a cap of two"
    );
    h.ack_ok(&running[0]).unwrap();
    assert!(h.lease("q", 10).is_empty(), "still two");
    h.ack_ok(&running[1]).unwrap();
    assert_eq!(ids(&h.lease("q", 10)), ["d"]);
    // Raised at runtime: the count carries over.
    h.set_limit(key("queue:q", None), Some(cap(5)));
    assert_eq!(h.engine.limits()[0].running, 2);
}

#[test]
fn a_noisy_tenant_is_held_to_its_own_limit_and_the_quiet_one_goes() {
    let mut h = Harness::new();
    h.set_limit(key("queue:q", Some("tenant")), Some(cap(2)));
    // 2,500 tasks of the noisy tenant ahead of two of the quiet one: more than one lease
    // parks, so the quiet ones are reached after a few leases, not never.
    let noisy: Vec<NewTask> = (0..2_500)
        .map(|i| of_tenant(&format!("n{i}"), "noisy"))
        .collect();
    h.run(Command::Enqueue(noisy)).unwrap();
    h.enqueue(of_tenant("q1", "quiet"));
    h.enqueue(of_tenant("q2", "quiet"));
    h.enqueue(task("untagged"));
    let mut leased = Vec::new();
    for _ in 0..5 {
        leased.extend(ids(&h.lease("q", 10)));
    }
    assert_eq!(leased, ["n0", "n1", "q1", "q2", "untagged"]);
    let held = h.engine.held(h.engine.get("n2").unwrap().key).unwrap();
    assert_eq!(
        held.limit,
        "concurrency cap queue:q per tenant=noisy (2 of 2 running)"
    );
    assert_eq!(h.engine.limits()[0].waiting, 2_498);
    assert_eq!(ready_ids(&h).len(), 100, "parked tasks are listed");
}

#[test]
fn a_global_cap_and_a_per_tenant_cap_apply_together() {
    let mut h = Harness::new();
    h.set_limit(key("queue:q", None), Some(cap(3)));
    h.set_limit(key("queue:q", Some("tenant")), Some(cap(2)));
    for i in 0..4 {
        h.enqueue(of_tenant(&format!("a{i}"), "a"));
    }
    for i in 0..4 {
        h.enqueue(of_tenant(&format!("b{i}"), "b"));
    }
    let first = h.lease("q", 10);
    assert_eq!(
        ids(&first),
        ["a0", "a1", "b0"],
        "two per tenant, three in all"
    );
    h.ack_ok(&first[0]).unwrap();
    assert_eq!(ids(&h.lease("q", 10)), ["a2"], "one of three ended");
    h.ack_ok(&first[2]).unwrap();
    assert_eq!(
        ids(&h.lease("q", 10)),
        ["b1"],
        "a3 waits for its tenant's cap, b1 goes past it"
    );
}

#[test]
fn a_keyed_rate_gives_each_tenant_its_own_bucket() {
    let mut h = Harness::new();
    h.set_limit(key("task:test.task", Some("tenant")), Some(rate("1/s", 1)));
    for i in 0..3 {
        h.enqueue(of_tenant(&format!("a{i}"), "a"));
        h.enqueue(of_tenant(&format!("b{i}"), "b"));
    }
    assert_eq!(ids(&h.lease("q", 10)), ["a0", "b0"]);
    assert!(h.lease("q", 10).is_empty());
    h.now += 1_000;
    assert_eq!(h.tick(Timer::Limit), 2, "one timer per tenant's park");
    assert_eq!(ids(&h.lease("q", 10)), ["a1", "b1"]);
}

#[test]
fn parked_tasks_can_be_revoked_and_purged() {
    let mut h = Harness::new();
    h.set_limit(key("queue:q", Some("tenant")), Some(cap(1)));
    for i in 0..4 {
        h.enqueue(of_tenant(&format!("a{i}"), "a"));
    }
    let running = h.lease("q", 10);
    assert_eq!(ids(&running), ["a0"]);
    h.run(revoke(&["a1"])).unwrap();
    assert_eq!(h.engine.limits()[0].waiting, 2);
    h.run(Command::Purge {
        queue: "q".into(),
        dead_letters: false,
    })
    .unwrap();
    assert_eq!(h.engine.limits()[0].waiting, 0);
    assert!(ready_ids(&h).is_empty());
    h.ack_ok(&running[0]).unwrap();
    assert!(h.lease("q", 10).is_empty());
}

#[test]
fn a_removed_limit_forgets_its_leases_and_a_new_one_counts_them_again() {
    let mut h = Harness::new();
    h.set_limit(key("task:test.task", None), Some(cap(1)));
    for id in ["a", "b", "c"] {
        h.enqueue(task(id));
    }
    let a = h.lease("q", 10);
    h.set_limit(key("task:test.task", None), None);
    let b = h.lease("q", 1);
    assert_eq!(ids(&b), ["b"], "no limit");
    h.set_limit(key("task:test.task", None), Some(cap(2)));
    assert_eq!(h.engine.limits()[0].running, 2, "a and b counted anew");
    h.ack_ok(&a[0]).unwrap();
    assert_eq!(h.engine.limits()[0].running, 1);
    assert_eq!(ids(&h.lease("q", 10)), ["c"]);
    let scope = LimitScope::Task("test.task".into());
    assert_eq!(h.engine.limits()[0].key.scope, scope);
}

#[test]
fn a_cap_dropped_and_set_again_counts_each_lease_once() {
    let mut h = Harness::new();
    let both = |max| Limit {
        concurrency: Some(max),
        ..rate("100/s", 0)
    };
    h.set_limit(key("queue:q", None), Some(both(2)));
    for id in ["a", "b", "c"] {
        h.enqueue(task(id));
    }
    let running = h.lease("q", 10);
    assert_eq!(ids(&running), ["a", "b"]);
    h.set_limit(key("queue:q", None), Some(rate("100/s", 0)));
    h.set_limit(key("queue:q", None), Some(both(2)));
    assert_eq!(h.engine.limits()[0].running, 2);
    h.ack_ok(&running[0]).unwrap();
    assert_eq!(h.engine.limits()[0].running, 1, "b still runs");
    assert_eq!(ids(&h.lease("q", 10)), ["c"]);
    assert!(h.lease("q", 10).is_empty());
}

#[test]
fn a_task_a_removed_limit_held_no_longer_says_it_waits() {
    let mut h = Harness::new();
    h.set_limit(key("task:test.task", None), Some(cap(1)));
    h.enqueue(task("a"));
    h.enqueue(task("b"));
    h.lease("q", 10);
    let b = h.engine.get("b").unwrap().key;
    assert!(h.engine.held(b).is_some());
    h.set_limit(key("task:test.task", None), None);
    assert!(
        h.engine.held(b).is_none(),
        "back in its lane, held by nothing"
    );
    assert_eq!(ready_ids(&h), ["b"]);
}

#[test]
fn removing_a_limit_that_is_not_there_is_not_found() {
    let mut h = Harness::new();
    let err = h
        .run(Command::SetLimit {
            key: key("queue:q", Some("tenant")),
            limit: None,
        })
        .unwrap_err();
    assert_eq!(
        err,
        EngineError::LimitNotFound {
            limit: "queue:q per tenant".into()
        }
    );
}
