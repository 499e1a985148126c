//! The engine's schedules: created or replaced, paused and deleted by commands (each change is
//! a write for the store), restored after a restart, indexed by name and on the `Schedule`
//! timer by their next slot.

use super::{Recurrence, Schedule};
use crate::engine::command::{Outcome, Reply, Timer, Write};
use crate::engine::ctx::Ctx;
use crate::engine::{Engine, EngineError};

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

    pub(super) fn unindex_schedule(&mut self, key: u64) -> Option<Schedule> {
        let schedule = self.schedules.remove(&key)?;
        self.timers
            .remove(Timer::Schedule, schedule.next_fire_ms, key);
        self.schedule_names.remove(&schedule.name);
        Some(schedule)
    }

    /// Stores `schedule` and answers it as stored.
    pub(super) fn store_schedule(&mut self, schedule: Schedule, out: &mut Outcome) {
        out.writes
            .push(Write::PutSchedule(Box::new(schedule.clone())));
        out.reply = Reply::Schedule(Box::new(schedule.clone()));
        self.index_schedule(schedule, &mut out.timers_moved);
    }

    /// Creates a schedule or replaces the one of the same name. A replacement keeps its key and
    /// its firing history; its next slot stays unless the timing changed, so putting the same
    /// schedule again (a declarative file applied twice) changes nothing.
    pub(in crate::engine) fn put_schedule(&mut self, mut schedule: Schedule, ctx: Ctx) -> Outcome {
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

    pub(in crate::engine) fn delete_schedule(
        &mut self,
        name: &str,
    ) -> Result<Outcome, EngineError> {
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

    pub(in crate::engine) fn pause_schedule(
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
}
