//! Periodic schedules stored in the broker: build one, put it, list, pause, preview, delete.

use std::time::{Duration, SystemTime};

use stalk_proto::v1;

use crate::wire::{duration_ms, time_from_unix_ms, unix_ms};
use crate::{Client, ClientError, Task};

/// What a schedule does with slots missed while the broker was down or it was paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Misfire {
    /// Fire only missed slots still within the grace window (the default).
    #[default]
    Skip,
    /// Fire the slots within the grace window, or else one run for all the missed ones.
    RunOnce,
    /// Fire every missed slot (at most 1000).
    RunAll,
}

/// What a schedule does when a slot comes while its previous run is unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Fire anyway (the default).
    #[default]
    Allow,
    /// Do not fire while the previous run waits or runs.
    Skip,
    /// Fire while the previous run runs, but keep at most one run waiting.
    BufferOne,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurrence {
    /// Every this long, from its creation.
    Every(Duration),
    /// A crontab expression in an IANA time zone.
    Cron {
        /// 5 fields, or 6 with seconds first.
        expression: String,
        /// E.g. `Europe/Berlin`.
        time_zone: String,
    },
    /// Once, at this time.
    Once(SystemTime),
}

/// A schedule to put (see [`Client::put_schedule`]).
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: v1::ScheduleSpec,
}

impl Schedule {
    fn new(name: impl Into<String>, when: v1::schedule_spec::When, task: Task) -> Self {
        Self {
            spec: v1::ScheduleSpec {
                name: name.into(),
                when: Some(when),
                task: Some(task.into_spec()),
                ..v1::ScheduleSpec::default()
            },
        }
    }

    /// Enqueues `task` every `every` (at least 1 s), from when the schedule is created.
    pub fn every(name: impl Into<String>, every: Duration, task: Task) -> Self {
        let every = v1::Every {
            every_ms: duration_ms(every),
        };
        Self::new(name, v1::schedule_spec::When::Every(every), task)
    }

    /// Enqueues `task` at the times of a crontab `expression` in `time_zone` (an IANA name;
    /// empty means UTC).
    pub fn cron(
        name: impl Into<String>,
        expression: impl Into<String>,
        time_zone: impl Into<String>,
        task: Task,
    ) -> Self {
        let cron = v1::Cron {
            expression: expression.into(),
            time_zone: time_zone.into(),
        };
        Self::new(name, v1::schedule_spec::When::Cron(cron), task)
    }

    /// Enqueues `task` once, at `at` (at once if it is past).
    pub fn once(name: impl Into<String>, at: SystemTime, task: Task) -> Self {
        let once = v1::Once {
            at_unix_ms: unix_ms(at),
        };
        Self::new(name, v1::schedule_spec::When::Once(once), task)
    }

    /// The misfire policy (default [`Misfire::Skip`]).
    pub fn misfire(mut self, misfire: Misfire) -> Self {
        self.spec.misfire = match misfire {
            Misfire::Skip => v1::Misfire::Skip,
            Misfire::RunOnce => v1::Misfire::RunOnce,
            Misfire::RunAll => v1::Misfire::RunAll,
        }
        .into();
        self
    }

    /// How late a slot may still fire as on time (default 60 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.spec.misfire_grace_ms = duration_ms(grace);
        self
    }

    /// The overlap policy (default [`Overlap::Allow`]).
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.spec.overlap = match overlap {
            Overlap::Allow => v1::Overlap::Allow,
            Overlap::Skip => v1::Overlap::Skip,
            Overlap::BufferOne => v1::Overlap::BufferOne,
        }
        .into();
        self
    }

    /// Creates it paused.
    pub fn paused(mut self, paused: bool) -> Self {
        self.spec.paused = paused;
        self
    }

    /// The wire form.
    pub fn into_spec(self) -> v1::ScheduleSpec {
        self.spec
    }
}

/// A schedule as the broker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleInfo {
    /// Its name.
    pub name: String,
    /// When it fires.
    pub when: Recurrence,
    /// The task type each slot enqueues.
    pub task_name: String,
    /// Its queue.
    pub queue: String,
    /// Whether it is paused.
    pub paused: bool,
    /// Its misfire policy.
    pub misfire: Misfire,
    /// How late a slot may still fire.
    pub grace: Duration,
    /// Its overlap policy.
    pub overlap: Overlap,
    /// The next slot, if any.
    pub next_fire: Option<SystemTime>,
    /// The last slot fired, if any.
    pub last_fire: Option<SystemTime>,
    /// The task the last slot enqueued.
    pub last_task_id: Option<String>,
}

impl ScheduleInfo {
    fn from_wire(info: v1::ScheduleInfo) -> Result<Self, ClientError> {
        let spec = info
            .schedule
            .ok_or_else(|| ClientError::Protocol("a schedule without its spec".into()))?;
        let when = match spec.when {
            Some(v1::schedule_spec::When::Every(e)) => {
                Recurrence::Every(Duration::from_millis(e.every_ms))
            }
            Some(v1::schedule_spec::When::Cron(c)) => Recurrence::Cron {
                expression: c.expression,
                time_zone: c.time_zone,
            },
            Some(v1::schedule_spec::When::Once(o)) => {
                Recurrence::Once(time_from_unix_ms(o.at_unix_ms).unwrap_or(SystemTime::UNIX_EPOCH))
            }
            None => return Err(ClientError::Protocol("a schedule without its time".into())),
        };
        let task = spec.task.unwrap_or_default();
        Ok(Self {
            name: spec.name,
            when,
            task_name: task.name,
            queue: task.queue,
            paused: spec.paused,
            misfire: match v1::Misfire::try_from(spec.misfire) {
                Ok(v1::Misfire::RunOnce) => Misfire::RunOnce,
                Ok(v1::Misfire::RunAll) => Misfire::RunAll,
                _ => Misfire::Skip,
            },
            grace: Duration::from_millis(spec.misfire_grace_ms),
            overlap: match v1::Overlap::try_from(spec.overlap) {
                Ok(v1::Overlap::Skip) => Overlap::Skip,
                Ok(v1::Overlap::BufferOne) => Overlap::BufferOne,
                _ => Overlap::Allow,
            },
            next_fire: time_from_unix_ms(info.next_fire_unix_ms),
            last_fire: time_from_unix_ms(info.last_fire_unix_ms),
            last_task_id: crate::wire::non_empty(info.last_task_id),
        })
    }
}

impl Client {
    /// Creates `schedule`, or replaces the one of the same name; putting the same schedule
    /// again changes nothing.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming the field (a bad crontab, an unknown
    /// zone, a task that sets its own id or ETA).
    pub async fn put_schedule(&self, schedule: Schedule) -> Result<ScheduleInfo, ClientError> {
        let request = v1::PutScheduleRequest {
            schedule: Some(schedule.into_spec()),
        };
        let info = self.schedules_client().put_schedule(request).await?;
        ScheduleInfo::from_wire(info.into_inner())
    }

    /// The schedule named `name`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `NOT_FOUND`.
    pub async fn schedule(&self, name: &str) -> Result<ScheduleInfo, ClientError> {
        let request = v1::ScheduleName { name: name.into() };
        let info = self.schedules_client().get_schedule(request).await?;
        ScheduleInfo::from_wire(info.into_inner())
    }

    /// Every schedule, by name.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refuses the call.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>, ClientError> {
        let response = self
            .schedules_client()
            .list_schedules(v1::ListSchedulesRequest {})
            .await?
            .into_inner();
        response
            .schedules
            .into_iter()
            .map(ScheduleInfo::from_wire)
            .collect()
    }

    /// Deletes the schedule named `name` (the tasks it enqueued stay).
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `NOT_FOUND`.
    pub async fn delete_schedule(&self, name: &str) -> Result<(), ClientError> {
        let request = v1::ScheduleName { name: name.into() };
        self.schedules_client().delete_schedule(request).await?;
        Ok(())
    }

    /// Pauses (`true`) or resumes (`false`) a schedule.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `NOT_FOUND`.
    pub async fn pause_schedule(
        &self,
        name: &str,
        paused: bool,
    ) -> Result<ScheduleInfo, ClientError> {
        let request = v1::PauseScheduleRequest {
            name: name.into(),
            paused,
        };
        let info = self.schedules_client().pause_schedule(request).await?;
        ScheduleInfo::from_wire(info.into_inner())
    }

    /// The next `count` fire times of a schedule, each with its text in the schedule's zone.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`]: `NOT_FOUND`, or `INVALID_ARGUMENT` for more than 1000.
    pub async fn preview_schedule(
        &self,
        name: &str,
        count: u32,
    ) -> Result<Vec<(SystemTime, String)>, ClientError> {
        let request = v1::PreviewScheduleRequest {
            name: name.into(),
            count,
        };
        let response = self
            .schedules_client()
            .preview_schedule(request)
            .await?
            .into_inner();
        Ok(response
            .fire_unix_ms
            .into_iter()
            .zip(response.local_times)
            .filter_map(|(ms, local)| Some((time_from_unix_ms(ms)?, local)))
            .collect())
    }
}
