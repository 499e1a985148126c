//! Periodic schedules through the broker: stored, listed, previewed in their zone, paused,
//! deleted; every slot fires once with the id `name@slot`, also across a restart; bad specs are
//! refused naming the field.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use stalk_client::{Client, ClientError, Recurrence, Schedule, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};

const SOON: Duration = Duration::from_secs(15);

/// The slot times of the tasks schedule `name` enqueued on queue `q`, from their ids.
async fn slots(client: &Client, name: &str) -> Vec<u64> {
    let (tasks, _) = client
        .list_tasks("q", TaskState::Ready, 1000, None)
        .await
        .unwrap();
    let mut slots: Vec<u64> = tasks
        .iter()
        .filter_map(|t| t.id.strip_prefix(&format!("{name}@"))?.parse().ok())
        .collect();
    slots.sort_unstable();
    slots
}

fn tick_task() -> Task {
    Task::new("tick").queue("q").json(&()).unwrap()
}

#[tokio::test]
async fn an_interval_fires_every_slot_exactly_once_across_a_restart() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    let info = client
        .put_schedule(Schedule::every("tick", Duration::from_secs(1), tick_task()))
        .await
        .unwrap();
    assert!(info
        .next_fire
        .is_some_and(|at| at > SystemTime::now() - Duration::from_secs(1)));
    let fired = wait_until(
        SOON,
        || async { slots(&client, "tick").await },
        |s| s.len() >= 2,
    )
    .await;
    assert!(fired.is_ok(), "{fired:?}");
    broker.restart().await;
    let client = broker.client().await;
    let after = wait_until(
        SOON,
        || async { slots(&client, "tick").await },
        |s| s.len() >= 4,
    )
    .await;
    let slots = after.unwrap_or_else(|s| panic!("it fires after the restart: {s:?}"));
    let distinct: BTreeSet<u64> = slots.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        slots.len(),
        "no slot fired twice: {slots:?}"
    );
    for pair in slots.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1_000,
            "every slot fired, none skipped: {slots:?}"
        );
    }
    let info = client.schedule("tick").await.unwrap();
    let last = info.last_task_id.expect("the schedule knows its last task");
    assert!(last.starts_with("tick@"), "{last}");
}

#[tokio::test]
async fn schedules_are_listed_previewed_in_their_zone_paused_and_deleted() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let nightly = Schedule::cron("nightly", "30 2 * * *", "Europe/Berlin", tick_task());
    let first = client.put_schedule(nightly.clone()).await.unwrap();
    let again = client.put_schedule(nightly).await.unwrap();
    assert_eq!(
        first, again,
        "putting the same schedule again changes nothing"
    );
    assert_eq!(
        first.when,
        Recurrence::Cron {
            expression: "30 2 * * *".into(),
            time_zone: "Europe/Berlin".into()
        }
    );
    let preview = client.preview_schedule("nightly", 3).await.unwrap();
    assert_eq!(preview.len(), 3);
    for (_, local) in &preview {
        assert!(
            local.contains("T02:30:00+01:00") || local.contains("T02:30:00+02:00"),
            "{local}"
        );
    }
    let paused = client.pause_schedule("nightly", true).await.unwrap();
    assert!(paused.paused);
    let listed = client.schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].paused);
    client.delete_schedule("nightly").await.unwrap();
    let gone = client.schedule("nightly").await.unwrap_err();
    assert!(
        matches!(&gone, ClientError::Status { code, .. } if *code == tonic::Code::NotFound),
        "{gone:?}"
    );
}

#[tokio::test]
async fn bad_specs_are_refused_naming_the_field() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let cases = [
        (
            Schedule::cron("a", "61 * * * *", "UTC", tick_task()),
            "schedule.cron.expression",
        ),
        (
            Schedule::cron("a", "* * * * *", "Mars/Olympus", tick_task()),
            "schedule.cron.time_zone",
        ),
        (
            Schedule::every("a", Duration::from_millis(10), tick_task()),
            "schedule.every.every_ms",
        ),
        (
            Schedule::every("a", Duration::from_secs(5), tick_task().id("fixed")),
            "schedule.task.task_id",
        ),
        (
            Schedule::every("bad name!", Duration::from_secs(5), tick_task()),
            "schedule.name",
        ),
    ];
    for (schedule, field) in cases {
        let err = client.put_schedule(schedule).await.unwrap_err();
        let ClientError::Status { code, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*code, tonic::Code::InvalidArgument, "{message}");
        assert!(message.contains(field), "{field}: {message}");
    }
    assert!(
        client.schedules().await.unwrap().is_empty(),
        "nothing was stored"
    );
}
