//! Periodic schedules in the engine: stored, indexed by their next slot on
//! [`Timer::Schedule`], and fired by its tick. Each slot enqueues the schedule's task with the id
//! `name@slot_ms`, and the schedule records the slot in the same command, so a slot fires once:
//! after a crash either both are stored, or the task alone (and enqueueing its id again returns
//! it instead of a duplicate), or neither (and the slot is due again).

use super::command::{Enqueued, Outcome, Reply, Timer, Write};
use super::ctx::Ctx;
use super::schedule::{Overlap, Recurrence, Schedule};
use super::task_id::TaskId;
use super::{Engine, EngineError};

impl Engine {
    /// Every schedule, by name.
    pub fn schedules(&self) -> Vec<&Schedule> {
        let mut all: Vec<&Schedule> = self.schedules.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The schedule named `name`.
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedule_names
            .get(name)
            .and_then(|key| self.schedules.get(key))
    }

    /// Puts back stored schedules after a restart.
    pub fn restore_schedules(&mut self, stored: impl IntoIterator<Item = Schedule>) {
        for schedule in stored {
            let mut moved = 0;
            self.index_schedule(schedule, &mut moved);
        }
    }

    fn index_schedule(&mut self, schedule: Schedule, moved: &mut u8) {
        if !schedule.paused && schedule.next_fire_ms > 0 {
            *moved |= self
                .timers
                .insert(Timer::Schedule, schedule.next_fire_ms, schedule.key);
        }
        self.schedule_names
            .insert(schedule.name.clone(), schedule.key);
        self.schedules.insert(schedule.key, schedule);
    }

    fn unindex_schedule(&mut self, key: u64) -> Option<Schedule> {
        let schedule = self.schedules.remove(&key)?;
        self.timers
            .remove(Timer::Schedule, schedule.next_fire_ms, key);
        self.schedule_names.remove(&schedule.name);
        Some(schedule)
    }

    /// Stores `schedule` and answers it as stored.
    fn store_schedule(&mut self, schedule: Schedule, out: &mut Outcome) {
        out.writes
            .push(Write::PutSchedule(Box::new(schedule.clone())));
        out.reply = Reply::Schedule(Box::new(schedule.clone()));
        self.index_schedule(schedule, &mut out.timers_moved);
    }

    /// Creates a schedule or replaces the one of the same name. A replacement keeps its key and
    /// its firing history; its next slot stays unless the timing changed, so putting the same
    /// schedule again (a declarative file applied twice) changes nothing.
    pub(super) fn put_schedule(&mut self, mut schedule: Schedule, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Deleted(false));
        if let Recurrence::Every { anchor_ms, .. } = &mut schedule.recurrence {
            if *anchor_ms == 0 {
                *anchor_ms = ctx.now_ms;
            }
        }
        let old = self
            .schedule_names
            .get(&schedule.name)
            .copied()
            .and_then(|key| self.unindex_schedule(key));
        match old {
            Some(old) => {
                schedule.key = old.key;
                schedule.last_fire_ms = old.last_fire_ms;
                schedule.last_task_id.clone_from(&old.last_task_id);
                if let (
                    Recurrence::Every { anchor_ms: new, .. },
                    Recurrence::Every { anchor_ms, .. },
                ) = (&mut schedule.recurrence, &old.recurrence)
                {
                    // Replacing keeps the original phase when only the anchor would move.
                    *new = *anchor_ms;
                }
                schedule.next_fire_ms = if schedule.recurrence == old.recurrence {
                    old.next_fire_ms
                } else {
                    schedule
                        .recurrence
                        .next_after(ctx.now_ms.max(old.last_fire_ms))
                        .unwrap_or(0)
                };
                if schedule == old {
                    out.reply = Reply::Schedule(Box::new(schedule.clone()));
                    self.index_schedule(schedule, &mut out.timers_moved);
                    out.durable = false;
                    return out;
                }
            }
            None => {
                schedule.key = ctx.sub_id(0);
                schedule.last_fire_ms = 0;
                schedule.last_task_id = String::new();
                schedule.next_fire_ms = match schedule.recurrence {
                    // A one-shot may be due already: it fires at once.
                    Recurrence::Once { at_ms } => at_ms,
                    _ => schedule.recurrence.next_after(ctx.now_ms).unwrap_or(0),
                };
            }
        }
        self.store_schedule(schedule, &mut out);
        out
    }

    pub(super) fn delete_schedule(&mut self, name: &str) -> Result<Outcome, EngineError> {
        let key = self
            .schedule_names
            .get(name)
            .copied()
            .ok_or_else(|| EngineError::ScheduleNotFound { name: name.into() })?;
        let mut out = Outcome::new(Reply::Deleted(true));
        self.unindex_schedule(key);
        out.writes.push(Write::DeleteSchedule(key));
        Ok(out)
    }

    pub(super) fn pause_schedule(
        &mut self,
        name: &str,
        paused: bool,
        _ctx: Ctx,
    ) -> Result<Outcome, EngineError> {
        let key = self
            .schedule_names
            .get(name)
            .copied()
            .ok_or_else(|| EngineError::ScheduleNotFound { name: name.into() })?;
        let mut out = Outcome::new(Reply::Deleted(false));
        let Some(mut schedule) = self.unindex_schedule(key) else {
            return Err(EngineError::ScheduleNotFound { name: name.into() });
        };
        // Slots that pass while paused are missed: on resume, the misfire policy decides.
        schedule.paused = paused;
        self.store_schedule(schedule, &mut out);
        Ok(out)
    }

    /// Fires the schedules whose slot came (at most `limit` tasks in one command).
    pub(super) fn fire_schedules(&mut self, limit: usize, ctx: Ctx) -> Outcome {
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
                    continue;
                }
                let mut task = schedule.template.clone();
                task.id = TaskId::new(&format!("{}@{slot}", schedule.name));
                if let Enqueued::Created { id, .. } | Enqueued::Existing { id, .. } =
                    self.enqueue_one(task, ctx, fired, &mut out)
                {
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
