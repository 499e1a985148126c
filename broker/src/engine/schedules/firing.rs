//! Firing: which slots are due under the misfire policy, whether the previous run holds a slot
//! back under the overlap policy, and enqueueing each slot's task with the id `name@slot_ms`
//! (the `Schedule` timer's tick).

use std::sync::Arc;

use super::{Misfire, Overlap, Recurrence, Schedule, MAX_CATCH_UP};
use crate::engine::command::{Enqueued, Outcome, Reply, Timer};
use crate::engine::ctx::Ctx;
use crate::engine::events::{Event, EventKind};
use crate::engine::task_id::TaskId;
use crate::engine::Engine;

impl Schedule {
    /// The slots to fire at `now_ms` (the due ones, as the misfire policy keeps them) and the
    /// next slot after now. A paused schedule fires nothing.
    pub fn due_slots(&self, now_ms: u64) -> (Vec<u64>, Option<u64>) {
        let next = self.recurrence.next_after(now_ms);
        if self.paused || self.next_fire_ms == 0 || self.next_fire_ms > now_ms {
            return (
                Vec::new(),
                next.or(Some(self.next_fire_ms)).filter(|&n| n > 0),
            );
        }
        let mut missed = vec![self.next_fire_ms];
        while missed.len() < MAX_CATCH_UP {
            match self
                .recurrence
                .next_after(*missed.last().unwrap_or(&now_ms))
            {
                Some(slot) if slot <= now_ms => missed.push(slot),
                _ => break,
            }
        }
        let on_time = |slot: &u64| now_ms.saturating_sub(*slot) <= self.grace_ms;
        let fire = match self.misfire {
            Misfire::RunAll => missed,
            Misfire::Skip => missed.into_iter().filter(on_time).collect(),
            Misfire::RunOnce => {
                let timely: Vec<u64> = missed.iter().copied().filter(on_time).collect();
                if timely.is_empty() {
                    missed.last().copied().into_iter().collect()
                } else {
                    timely
                }
            }
        };
        (fire, next)
    }
}
impl Engine {
    /// Fires the schedules whose slot came (at most `limit` tasks in one command).
    pub(in crate::engine) fn fire_schedules(&mut self, limit: usize, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Ticked(0));
        let due = self.timers.due(Timer::Schedule, ctx.now_ms, limit);
        let mut fired = 0;
        for (_, key) in due {
            let Some(mut schedule) = self.unindex_schedule(key) else {
                continue;
            };
            let (slots, next) = schedule.due_slots(ctx.now_ms);
            for slot in slots {
                if fired >= limit {
                    break;
                }
                if self.overlaps(&schedule) {
                    out.events
                        .push(Event::new(EventKind::ScheduleMissed, ctx.now_ms).with_note(
                            format!(
                            "{}: the slot at {slot} was skipped, its previous run had not finished",
                            schedule.name
                        ),
                        ));
                    continue;
                }
                let mut task = schedule.template.clone();
                task.id = TaskId::new(&format!("{}@{slot}", schedule.name));
                if let Enqueued::Created { id, .. } | Enqueued::Existing { id, .. } =
                    self.enqueue_one(task, ctx, fired, &mut out)
                {
                    out.events.push(Event {
                        task_id: Some(id.clone()),
                        queue: Some(Arc::from(schedule.template.queue.as_str())),
                        task_name: Some(Arc::from(schedule.template.name.as_str())),
                        note: Some(Arc::from(schedule.name.as_str())),
                        ..Event::new(EventKind::ScheduleFired, ctx.now_ms)
                    });
                    schedule.last_task_id = id.to_string();
                }
                schedule.last_fire_ms = slot;
                fired += 1;
            }
            schedule.next_fire_ms = match schedule.recurrence {
                Recurrence::Once { .. } => 0,
                _ => next.unwrap_or(0),
            };
            self.store_schedule(schedule, &mut out);
        }
        out.reply = Reply::Ticked(fired);
        out
    }

    /// Whether the schedule's previous run holds this slot back under its overlap policy.
    fn overlaps(&self, schedule: &Schedule) -> bool {
        let previous = self
            .get(&schedule.last_task_id)
            .map(|m| m.state)
            .filter(|_| !schedule.last_task_id.is_empty());
        match (schedule.overlap, previous) {
            (Overlap::Allow, _) | (_, None) => false,
            (Overlap::Skip, Some(state)) => !state.is_terminal(),
            (Overlap::BufferOne, Some(state)) => state.is_waiting(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_minute(misfire: Misfire, grace_ms: u64) -> Schedule {
        Schedule {
            key: 1,
            name: "s".into(),
            recurrence: Recurrence::Every {
                every_ms: 60_000,
                anchor_ms: 0,
            },
            template: crate::engine::NewTask {
                id: crate::engine::TaskId::new(""),
                name: "t".into(),
                queue: "q".into(),
                priority: 0,
                unique_key: None,
                options: crate::engine::TaskOptions::default(),
                expires: None,
                eta: None,
                body: crate::engine::TaskBody::default(),
                flow: None,
            },
            misfire,
            grace_ms,
            overlap: Overlap::Allow,
            paused: false,
            next_fire_ms: 60_000,
            last_fire_ms: 0,
            last_task_id: String::new(),
        }
    }

    #[test]
    fn missed_slots_follow_the_misfire_policy() {
        // Down from just before 1:00 until 5:10: slots 1:00, 2:00, 3:00, 4:00 and 5:00 missed.
        let now = 5 * 60_000 + 10_000;
        let fired = |misfire, grace| every_minute(misfire, grace).due_slots(now);
        assert_eq!(fired(Misfire::Skip, 1_000).0, Vec::<u64>::new());
        assert_eq!(
            fired(Misfire::Skip, 30_000).0,
            [300_000],
            "5:00 is within the grace"
        );
        assert_eq!(
            fired(Misfire::RunOnce, 1_000).0,
            [300_000],
            "one run for all"
        );
        assert_eq!(
            fired(Misfire::RunAll, 1_000).0,
            [60_000, 120_000, 180_000, 240_000, 300_000]
        );
        assert_eq!(fired(Misfire::RunAll, 1_000).1, Some(360_000));
        let mut paused = every_minute(Misfire::RunAll, 1_000);
        paused.paused = true;
        assert!(paused.due_slots(now).0.is_empty());
    }
}
