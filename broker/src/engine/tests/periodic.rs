//! Periodic schedules: each slot fires once, overlap and pause.

use super::*;

fn every(name: &str, every_ms: u64) -> schedule::Schedule {
    schedule::Schedule {
        key: 0,
        name: name.into(),
        recurrence: schedule::Recurrence::Every {
            every_ms,
            anchor_ms: 0,
        },
        template: task(""),
        misfire: schedule::Misfire::Skip,
        grace_ms: 1_000,
        overlap: schedule::Overlap::Allow,
        paused: false,
        next_fire_ms: 0,
        last_fire_ms: 0,
        last_task_id: String::new(),
    }
}

fn put(h: &mut Harness, schedule: schedule::Schedule) -> schedule::Schedule {
    match h
        .run(Command::PutSchedule(Box::new(schedule)))
        .unwrap()
        .reply
    {
        Reply::Schedule(s) => *s,
        other => panic!("put answered {other:?}"),
    }
}

#[test]
fn a_schedule_fires_each_slot_once_with_a_slot_id() {
    let mut h = Harness::new();
    let start = h.now;
    let stored = put(&mut h, every("tick", 1_000));
    assert_eq!(stored.next_fire_ms, start + 1_000);
    assert_eq!(h.engine.next_deadline(Timer::Schedule), Some(start + 1_000));
    h.now += 999;
    assert_eq!(h.tick(Timer::Schedule), 0, "not yet");
    h.now += 1;
    assert_eq!(h.tick(Timer::Schedule), 1);
    assert_eq!(h.tick(Timer::Schedule), 0, "the slot fired once");
    let id = format!("tick@{}", start + 1_000);
    assert_eq!(h.state(&id), Some(TaskState::Ready));
    // After a crash that kept the task but not the schedule's progress, the slot is due again
    // and enqueues nothing new: the slot id is taken.
    let mut again = h.engine.schedule("tick").cloned().unwrap();
    again.next_fire_ms = start + 1_000;
    h.engine.restore_schedules([again]);
    assert_eq!(h.tick(Timer::Schedule), 1);
    assert_eq!(h.engine.stats(&[])[0].1.ready, 1, "still one task");
}

#[test]
fn overlap_skip_waits_for_the_previous_run_and_pause_stops_firing() {
    let mut h = Harness::new();
    put(
        &mut h,
        schedule::Schedule {
            overlap: schedule::Overlap::Skip,
            ..every("job", 1_000)
        },
    );
    h.now += 1_000;
    h.tick(Timer::Schedule);
    h.now += 1_000;
    h.tick(Timer::Schedule);
    assert_eq!(
        h.engine.stats(&[])[0].1.ready,
        1,
        "the second slot was skipped"
    );
    let run = h.lease("q", 1).remove(0);
    h.ack_ok(&run).unwrap();
    h.now += 1_000;
    h.tick(Timer::Schedule);
    assert_eq!(h.engine.stats(&[])[0].1.ready, 1, "the next slot fired");
    h.run(Command::PauseSchedule {
        name: "job".into(),
        paused: true,
    })
    .unwrap();
    assert_eq!(h.engine.next_deadline(Timer::Schedule), None);
    assert!(matches!(
        h.run(Command::DeleteSchedule("nope".into())),
        Err(EngineError::ScheduleNotFound { .. })
    ));
}
