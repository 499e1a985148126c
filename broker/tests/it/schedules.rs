//! Periodic schedules through the broker: stored, listed, previewed in their zone, paused,
//! deleted; every slot fires once with the id `name@slot`, also across a restart; crontabs keep
//! to their zone across DST and missed slots follow the misfire policy (on a manual clock); bad
//! specs are refused naming the field.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stalk_broker::clock::ManualClock;
use stalk_client::{Client, ClientError, Recurrence, Schedule, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::lease_for;

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
        (
            // Its tasks' ids (NAME@SLOT_MS) would be too long to ack.
            Schedule::every("n".repeat(108), Duration::from_secs(5), tick_task()),
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

/// Unix ms of a UTC time.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
    use chrono::TimeZone;
    let at = chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
    u64::try_from(at.timestamp_millis()).unwrap()
}

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Moves `clock` to `to_ms` (forward only).
fn move_to(clock: &ManualClock, to_ms: u64) {
    use stalk_broker::clock::Clock;
    clock.advance(to_ms.saturating_sub(clock.now_ms()));
}

async fn manual_broker(start_ms: u64) -> (TestBroker, ManualClock) {
    let clock = ManualClock::new(start_ms);
    let broker = TestBroker::start_with_clock(Arc::new(clock.clone()), |_| {}).await;
    (broker, clock)
}

#[tokio::test]
async fn a_berlin_crontab_neither_skips_nor_doubles_a_slot_across_dst() {
    // 02:30 every day in Berlin. On 29 March 2026 02:00 jumps to 03:00; on 25 October 03:00
    // falls back to 02:00.
    let (broker, clock) = manual_broker(utc(2026, 3, 28, 23, 0)).await;
    let client = broker.client().await;
    let daily = Schedule::cron("daily", "30 2 * * *", "Europe/Berlin", tick_task());
    let info = client.put_schedule(daily).await.unwrap();
    let spring = utc(2026, 3, 29, 1, 0);
    assert_eq!(
        info.next_fire,
        Some(at(spring)),
        "the gap's slot runs at 03:00 CEST"
    );
    move_to(&clock, spring + 1);
    let fired = wait_until(
        SOON,
        || async { slots(&client, "daily").await },
        |s| !s.is_empty(),
    )
    .await;
    assert_eq!(fired.unwrap(), [spring], "fired once, at 03:00 CEST");
    let next = client.schedule("daily").await.unwrap().next_fire;
    assert_eq!(
        next,
        Some(at(utc(2026, 3, 30, 0, 30))),
        "then 02:30 CEST again"
    );

    move_to(&clock, utc(2026, 10, 24, 23, 0));
    let _ = client.delete_schedule("daily").await;
    let daily = Schedule::cron("daily", "30 2 * * *", "Europe/Berlin", tick_task());
    let autumn = utc(2026, 10, 25, 0, 30);
    assert_eq!(
        client.put_schedule(daily).await.unwrap().next_fire,
        Some(at(autumn))
    );
    move_to(&clock, autumn + 1);
    let fired = wait_until(
        SOON,
        || async { slots(&client, "daily").await },
        |s| s.len() == 2,
    )
    .await;
    assert_eq!(fired.unwrap(), [spring, autumn]);
    let next = client.schedule("daily").await.unwrap().next_fire;
    assert_eq!(
        next,
        Some(at(utc(2026, 10, 26, 1, 30))),
        "the repeated 02:30 (CET, an hour later) does not fire again"
    );
}

#[tokio::test]
async fn missed_slots_follow_the_misfire_policy_on_resume() {
    use stalk_client::Misfire;
    let (broker, clock) = manual_broker(utc(2026, 1, 1, 0, 0)).await;
    let client = broker.client().await;
    for (name, misfire) in [
        ("all", Misfire::RunAll),
        ("once", Misfire::RunOnce),
        ("skip", Misfire::Skip),
    ] {
        let every = Schedule::every(name, Duration::from_secs(60), tick_task())
            .misfire(misfire)
            .grace(Duration::from_secs(1))
            .paused(true);
        client.put_schedule(every).await.unwrap();
    }
    // Five slots pass while they are paused.
    move_to(&clock, utc(2026, 1, 1, 0, 5) + 30_000);
    for name in ["all", "once", "skip"] {
        client.pause_schedule(name, false).await.unwrap();
    }
    let fired = wait_until(
        SOON,
        || async {
            (
                slots(&client, "all").await.len(),
                slots(&client, "once").await.len(),
            )
        },
        |&(all, once)| all == 5 && once == 1,
    )
    .await;
    assert!(
        fired.is_ok(),
        "run-all fires the 5 missed slots, run-once one: {fired:?}"
    );
    assert!(
        slots(&client, "skip").await.is_empty(),
        "skip drops slots past the grace"
    );
    let next = client.schedule("skip").await.unwrap().next_fire;
    assert_eq!(
        next,
        Some(at(utc(2026, 1, 1, 0, 6))),
        "and waits for the next one"
    );
}

/// How many READY tasks `queue` holds.
async fn ready_in(client: &Client, queue: &str) -> usize {
    let (tasks, _) = client
        .list_tasks(queue, TaskState::Ready, 1000, None)
        .await
        .unwrap();
    tasks.len()
}

#[tokio::test]
async fn overlap_policies_allow_skip_and_buffer_one() {
    use stalk_client::Overlap;
    let start = utc(2026, 1, 1, 0, 0);
    // Intervals count from when the schedule is put: slots at start + k minutes.
    let (broker, clock) = manual_broker(start).await;
    let client = broker.client().await;
    for (queue, overlap) in [
        ("allow", Overlap::Allow),
        ("skip", Overlap::Skip),
        ("buffer", Overlap::BufferOne),
    ] {
        let task = Task::new("tick").queue(queue).json(&()).unwrap();
        let every = Schedule::every(queue, Duration::from_secs(60), task).overlap(overlap);
        client.put_schedule(every).await.unwrap();
    }
    let counts = || async {
        (
            ready_in(&client, "allow").await,
            ready_in(&client, "skip").await,
            ready_in(&client, "buffer").await,
        )
    };
    // Slot 1: each fires.
    move_to(&clock, start + 60_000 + 1);
    let fired = wait_until(SOON, counts, |&c| c == (1, 1, 1)).await;
    assert_eq!(fired, Ok((1, 1, 1)));
    // The buffer schedule's run starts and keeps running.
    let running = lease_for(&client, "buffer", 1, Duration::from_secs(3600)).await;
    assert_eq!(running.len(), 1);
    // Slot 2: skip waits for its unfinished run; buffer-one fires beside the running one.
    move_to(&clock, start + 120_000 + 1);
    let fired = wait_until(SOON, counts, |&(allow, _, _)| allow == 2).await;
    assert_eq!(fired, Ok((2, 1, 1)));
    // Slot 3: buffer-one keeps no second waiting run.
    move_to(&clock, start + 180_000 + 1);
    let fired = wait_until(SOON, counts, |&(allow, _, _)| allow == 3).await;
    assert_eq!(fired, Ok((3, 1, 1)));
    // Once skip's run finishes, its next slot fires again.
    let done = lease_for(&client, "skip", 1, Duration::from_secs(3600)).await;
    client.ack_success(&done[0], Vec::new(), "").await.unwrap();
    move_to(&clock, start + 240_000 + 1);
    let fired = wait_until(SOON, counts, |&(allow, _, _)| allow == 4).await;
    assert_eq!(fired, Ok((4, 1, 1)));
}

#[tokio::test]
async fn every_slot_of_a_berlin_crontab_fires_once_across_dst() {
    // 02:15 and 02:45 do not exist on 28 March 2027 (02:00 jumps to 03:00).
    let (broker, clock) = manual_broker(utc(2027, 3, 27, 23, 0)).await;
    let client = broker.client().await;
    let twice = Schedule::cron("twice", "15,45 2 * * *", "Europe/Berlin", tick_task());
    let three_cest = utc(2027, 3, 28, 1, 0);
    let info = client.put_schedule(twice).await.unwrap();
    assert_eq!(info.next_fire, Some(at(three_cest)), "both run at 03:00");
    move_to(&clock, three_cest + 1);
    let fired = wait_until(SOON, || slots(&client, "twice"), |s| !s.is_empty()).await;
    assert_eq!(fired.unwrap(), [three_cest], "as one task");
    let next = client.schedule("twice").await.unwrap().next_fire;
    assert_eq!(next, Some(at(utc(2027, 3, 29, 0, 15))), "then 02:15 CEST");

    // 02:00 and 02:30 happen twice on 31 October 2027 (03:00 falls back to 02:00).
    client.delete_schedule("twice").await.unwrap();
    move_to(&clock, utc(2027, 10, 30, 23, 0));
    let half = Schedule::cron("half", "*/30 2 * * *", "Europe/Berlin", tick_task());
    client.put_schedule(half).await.unwrap();
    let (two, half_past) = (utc(2027, 10, 31, 0, 0), utc(2027, 10, 31, 0, 30));
    for (slot, count) in [(two, 1), (half_past, 2)] {
        move_to(&clock, slot + 1);
        let fired = wait_until(SOON, || slots(&client, "half"), |s| s.len() == count).await;
        assert!(fired.is_ok(), "{fired:?}");
    }
    assert_eq!(
        slots(&client, "half").await,
        [two, half_past],
        "02:00 and 02:30 CEST"
    );
    let next = client.schedule("half").await.unwrap().next_fire;
    assert_eq!(
        next,
        Some(at(utc(2027, 11, 1, 1, 0))),
        "02:00 and 02:30 CET, the repeated hour, do not fire: next is 02:00 CET a day later"
    );
}
