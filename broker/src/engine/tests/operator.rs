//! Operator views and bulk changes: listing pages and purges.

use super::*;

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
        let page = h
            .engine
            .list("q", TaskState::Ready, token, 2, h.now)
            .unwrap();
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
