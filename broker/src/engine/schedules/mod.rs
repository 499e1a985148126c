//! Periodic schedules: what they enqueue and when. The times are pure functions of the clock
//! readings the engine is given, so firing stays deterministic.
//!
//! In the engine, schedules are stored, indexed by their next slot on
//! [`Timer::Schedule`](super::Timer::Schedule), and fired by its tick. Each slot enqueues the
//! schedule's task with the id `name@slot_ms`, and the schedule records the slot in the same
//! command, so a slot fires once: after a crash either both are stored, or the task alone (and
//! enqueueing its id again returns it instead of a duplicate), or neither (and the slot is due
//! again).
//!
//! # Layout
//! - this file: a [`Schedule`] and its policies ([`Misfire`], [`Overlap`]).
//! - `recurrence.rs`: intervals, crontabs in time zones, one-shots: the next slot.
//! - `crontab.rs`: a crontab's wall clock slots as instants in its zone, across DST changes.
//! - `firing.rs`: the slots due under the misfire policy, the overlap check, and firing them
//!   into tasks on the `Schedule` timer's tick.
//! - `registry.rs`: the engine's schedules: put, pause, delete, restore, look up.

mod crontab;
#[cfg(test)]
mod dst_tests;
mod firing;
mod recurrence;
mod registry;

pub use recurrence::{Recurrence, ScheduleError};

use crate::engine::task::NewTask;

/// What a schedule does with slots it missed (the broker was down, or it was paused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Misfire {
    /// Fire only slots still within the grace window; drop the others.
    #[default]
    Skip,
    /// Fire the slots within the grace window, or else one run for all the missed ones.
    RunOnce,
    /// Fire every missed slot (at most [`MAX_CATCH_UP`]).
    RunAll,
}

/// What a schedule does when a slot comes while its previous run has not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Fire anyway.
    #[default]
    Allow,
    /// Do not fire while the previous run is waiting or running.
    Skip,
    /// Fire while the previous run is running, but keep at most one run waiting.
    BufferOne,
}

/// The most missed slots one firing catches up on.
pub const MAX_CATCH_UP: usize = 1000;

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Internal key, from the sequence number of the command that created it.
    pub key: u64,
    /// Unique name; fired tasks get ids `name@slot_ms`.
    pub name: String,
    /// When it fires.
    pub recurrence: Recurrence,
    /// The task each firing enqueues (its id is set per slot).
    pub template: NewTask,
    /// Missed slots.
    pub misfire: Misfire,
    /// How late a slot may still fire as on time, in ms.
    pub grace_ms: u64,
    /// Runs that overlap.
    pub overlap: Overlap,
    /// Paused schedules do not fire; their slots count as missed.
    pub paused: bool,
    /// The next slot, unix ms; 0 when there is none (a one-shot that fired).
    pub next_fire_ms: u64,
    /// The last slot fired, unix ms; 0 if none.
    pub last_fire_ms: u64,
    /// The id of the last task fired.
    pub last_task_id: String,
}
