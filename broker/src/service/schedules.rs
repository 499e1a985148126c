//! The `Schedules` service: checks and converts schedules, answers them with where they stand.

use std::sync::Arc;

use chrono::TimeZone;
use stalk_proto::v1 as pb;
use stalk_proto::v1::schedules_server::Schedules;
use tonic::{Request, Response, Status};

use super::convert::{self, FieldError};
use crate::broker::Broker;
use crate::engine::schedule::{Misfire, Overlap, Recurrence, Schedule, ScheduleError};
use crate::engine::{NewTask, TaskId, When};

/// Default grace for a late slot.
const DEFAULT_GRACE_MS: u64 = 60_000;
/// Longest grace.
const MAX_GRACE_MS: u64 = 7 * 86_400_000;
/// Shortest and longest interval.
const EVERY_MS: (u64, u64) = (1_000, 366 * 86_400_000);
/// Default and largest preview.
const PREVIEW: (u32, u32) = (5, 1000);

/// Serves `stalk.v1.Schedules` over a [`Broker`].
#[derive(Debug, Clone)]
pub(crate) struct SchedulesService {
    pub(crate) broker: Arc<Broker>,
    pub(crate) max_payload: usize,
}

#[tonic::async_trait]
impl Schedules for SchedulesService {
    async fn put_schedule(
        &self,
        request: Request<pb::PutScheduleRequest>,
    ) -> Result<Response<pb::ScheduleInfo>, Status> {
        let spec = request
            .into_inner()
            .schedule
            .ok_or_else(|| FieldError::invalid("schedule", "is required"))?;
        let schedule = schedule(spec, self.max_payload)?;
        let stored = self.broker.put_schedule(schedule).await?;
        Ok(Response::new(info(&stored)))
    }

    async fn get_schedule(
        &self,
        request: Request<pb::ScheduleName>,
    ) -> Result<Response<pb::ScheduleInfo>, Status> {
        let name = request.into_inner().name;
        let schedule = self
            .broker
            .schedule(&name)
            .ok_or_else(|| not_found(&name))?;
        Ok(Response::new(info(&schedule)))
    }

    async fn list_schedules(
        &self,
        _request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let schedules = self.broker.schedules().iter().map(info).collect();
        Ok(Response::new(pb::ListSchedulesResponse { schedules }))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::ScheduleName>,
    ) -> Result<Response<pb::DeleteScheduleResponse>, Status> {
        let name = request.into_inner().name;
        self.broker.delete_schedule(name).await?;
        Ok(Response::new(pb::DeleteScheduleResponse {}))
    }

    async fn pause_schedule(
        &self,
        request: Request<pb::PauseScheduleRequest>,
    ) -> Result<Response<pb::ScheduleInfo>, Status> {
        let req = request.into_inner();
        let stored = self.broker.pause_schedule(req.name, req.paused).await?;
        Ok(Response::new(info(&stored)))
    }

    async fn preview_schedule(
        &self,
        request: Request<pb::PreviewScheduleRequest>,
    ) -> Result<Response<pb::PreviewScheduleResponse>, Status> {
        let req = request.into_inner();
        let count = match req.count {
            0 => PREVIEW.0,
            n if n > PREVIEW.1 => {
                return Err(
                    FieldError::invalid("count", format!("{n} is more than {}", PREVIEW.1)).into(),
                )
            }
            n => n,
        };
        let schedule = self
            .broker
            .schedule(&req.name)
            .ok_or_else(|| not_found(&req.name))?;
        let now = self.broker.clock().now_ms();
        let after = now.max(schedule.next_fire_ms.saturating_sub(1));
        let times = schedule
            .recurrence
            .preview(after, usize::try_from(count).unwrap_or(usize::MAX));
        let zone = match &schedule.recurrence {
            Recurrence::Cron { zone, .. } => zone.clone(),
            _ => "UTC".to_string(),
        };
        let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
        let local_times = times
            .iter()
            .filter_map(|&ms| {
                let at = tz.timestamp_millis_opt(i64::try_from(ms).ok()?).single()?;
                Some(at.to_rfc3339())
            })
            .collect();
        Ok(Response::new(pb::PreviewScheduleResponse {
            fire_unix_ms: times.into_iter().map(convert::ms).collect(),
            local_times,
            time_zone: zone,
        }))
    }
}

fn not_found(name: &str) -> Status {
    Status::not_found(format!("no schedule named {name:?}"))
}

/// Longest schedule name: its tasks' ids, `NAME@SLOT_MS`, must stay valid task ids.
const MAX_SCHEDULE_NAME_LEN: usize = convert::MAX_ID_LEN - "@18446744073709551615".len();

/// Checks a schedule spec and converts it for the engine.
pub(super) fn schedule(spec: pb::ScheduleSpec, max_payload: usize) -> Result<Schedule, FieldError> {
    let name = spec.name;
    if name.is_empty()
        || name.len() > MAX_SCHEDULE_NAME_LEN
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
    {
        return Err(FieldError::invalid(
            "schedule.name",
            format!("must be 1 to {MAX_SCHEDULE_NAME_LEN} bytes of letters, digits and ._-:"),
        ));
    }
    let recurrence = recurrence(spec.when)?;
    let task = spec
        .task
        .ok_or_else(|| FieldError::invalid("schedule.task", "is required"))?;
    let template = template(task, max_payload)?;
    if spec.misfire_grace_ms > MAX_GRACE_MS {
        return Err(FieldError::invalid(
            "schedule.misfire_grace_ms",
            format!("{} is more than 7 days", spec.misfire_grace_ms),
        ));
    }
    Ok(Schedule {
        key: 0,
        name,
        recurrence,
        template,
        misfire: match pb::Misfire::try_from(spec.misfire) {
            Ok(pb::Misfire::RunOnce) => Misfire::RunOnce,
            Ok(pb::Misfire::RunAll) => Misfire::RunAll,
            Ok(pb::Misfire::Skip) => Misfire::Skip,
            Err(_) => {
                return Err(FieldError::invalid(
                    "schedule.misfire",
                    "is not a known policy",
                ))
            }
        },
        grace_ms: match spec.misfire_grace_ms {
            0 => DEFAULT_GRACE_MS,
            ms => ms,
        },
        overlap: match pb::Overlap::try_from(spec.overlap) {
            Ok(pb::Overlap::Skip) => Overlap::Skip,
            Ok(pb::Overlap::BufferOne) => Overlap::BufferOne,
            Ok(pb::Overlap::Allow) => Overlap::Allow,
            Err(_) => {
                return Err(FieldError::invalid(
                    "schedule.overlap",
                    "is not a known policy",
                ))
            }
        },
        paused: spec.paused,
        next_fire_ms: 0,
        last_fire_ms: 0,
        last_task_id: String::new(),
    })
}

/// Checks when a schedule fires: every, cron (with its zone) or once.
fn recurrence(when: Option<pb::schedule_spec::When>) -> Result<Recurrence, FieldError> {
    let recurrence = match when {
        Some(pb::schedule_spec::When::Every(every)) => {
            if every.every_ms < EVERY_MS.0 || every.every_ms > EVERY_MS.1 {
                return Err(FieldError::invalid(
                    "schedule.every.every_ms",
                    format!("{} is outside 1 s to 366 days", every.every_ms),
                ));
            }
            Recurrence::Every {
                every_ms: every.every_ms,
                anchor_ms: 0,
            }
        }
        Some(pb::schedule_spec::When::Cron(cron)) => {
            let zone = if cron.time_zone.is_empty() {
                "UTC"
            } else {
                cron.time_zone.as_str()
            };
            Recurrence::cron(&cron.expression, zone).map_err(|e| match e {
                ScheduleError::Zone(_) => {
                    FieldError::invalid("schedule.cron.time_zone", e.to_string())
                }
                _ => FieldError::invalid("schedule.cron.expression", e.to_string()),
            })?
        }
        Some(pb::schedule_spec::When::Once(once)) => Recurrence::Once {
            at_ms: u64::try_from(once.at_unix_ms)
                .ok()
                .filter(|&at| at > 0)
                .ok_or_else(|| {
                    FieldError::invalid("schedule.once.at_unix_ms", "give a time after 1970")
                })?,
        },
        None => {
            return Err(FieldError::invalid(
                "schedule.when",
                "give one of every, cron and once",
            ))
        }
    };
    Ok(recurrence)
}

/// Checks the task a schedule enqueues: each slot sets its own id and time, so those stay unset.
fn template(task: pb::TaskSpec, max_payload: usize) -> Result<NewTask, FieldError> {
    for (field, set) in [
        ("task_id", !task.task_id.is_empty()),
        ("eta_unix_ms", task.eta_unix_ms != 0),
        ("countdown_ms", task.countdown_ms != 0),
        ("expires_at_unix_ms", task.expires_at_unix_ms != 0),
    ] {
        if set {
            return Err(FieldError::invalid(
                format!("schedule.task.{field}"),
                "must be unset: each slot has its own id and time",
            ));
        }
    }
    // The absolute times are refused above, so the time they would be measured from is moot.
    convert::task_at("schedule.task", task, max_payload, 0, || TaskId::new(""))
}

/// The wire form of a schedule.
fn info(schedule: &Schedule) -> pb::ScheduleInfo {
    let when = match &schedule.recurrence {
        Recurrence::Every { every_ms, .. } => pb::schedule_spec::When::Every(pb::Every {
            every_ms: *every_ms,
        }),
        Recurrence::Cron { expr, zone } => pb::schedule_spec::When::Cron(pb::Cron {
            expression: expr.clone(),
            time_zone: zone.clone(),
        }),
        Recurrence::Once { at_ms } => pb::schedule_spec::When::Once(pb::Once {
            at_unix_ms: convert::ms(*at_ms),
        }),
    };
    let t = &schedule.template;
    let task = pb::TaskSpec {
        name: t.name.clone(),
        queue: t.queue.clone(),
        payload: t.body.payload.clone(),
        content_type: t.body.content_type.clone(),
        headers: t.body.headers.clone().into_iter().collect(),
        priority: u32::from(t.priority),
        unique_key: t.unique_key.clone().unwrap_or_default(),
        max_retries: t.options.max_retries,
        no_retries: t.options.max_retries == 0,
        retry_backoff_ms: u64::from(t.options.retry_backoff_ms),
        retry_backoff_max_ms: u64::from(t.options.retry_backoff_max_ms),
        lease_duration_ms: u64::from(t.options.lease_ms),
        expires_in_ms: match t.expires {
            Some(When::In(ms)) => ms,
            _ => 0,
        },
        soft_time_limit_ms: t.body.soft_time_limit_ms,
        time_limit_ms: t.body.time_limit_ms,
        max_lost_attempts: t.options.max_lost_attempts,
        ..pb::TaskSpec::default()
    };
    pb::ScheduleInfo {
        schedule: Some(pb::ScheduleSpec {
            name: schedule.name.clone(),
            when: Some(when),
            task: Some(task),
            misfire: match schedule.misfire {
                Misfire::Skip => pb::Misfire::Skip,
                Misfire::RunOnce => pb::Misfire::RunOnce,
                Misfire::RunAll => pb::Misfire::RunAll,
            }
            .into(),
            misfire_grace_ms: schedule.grace_ms,
            overlap: match schedule.overlap {
                Overlap::Allow => pb::Overlap::Allow,
                Overlap::Skip => pb::Overlap::Skip,
                Overlap::BufferOne => pb::Overlap::BufferOne,
            }
            .into(),
            paused: schedule.paused,
        }),
        next_fire_unix_ms: convert::ms(schedule.next_fire_ms),
        last_fire_unix_ms: convert::ms(schedule.last_fire_ms),
        last_task_id: schedule.last_task_id.clone(),
    }
}
