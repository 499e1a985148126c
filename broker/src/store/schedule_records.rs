//! The stored form of schedules: a versioned prost record with the task template.

use prost::Message;

use super::records::{unversioned, versioned, BodyRecord};
use super::StoreError;
use crate::engine::schedules::{Misfire, Overlap, Recurrence, Schedule};
use crate::engine::{NewTask, TaskId, TaskOptions, When};

#[derive(Clone, PartialEq, Message)]
struct ScheduleRecord {
    #[prost(uint64, tag = "1")]
    key: u64,
    #[prost(string, tag = "2")]
    name: String,
    /// 1 every, 2 cron, 3 once.
    #[prost(uint32, tag = "3")]
    kind: u32,
    #[prost(uint64, tag = "4")]
    every_ms: u64,
    #[prost(uint64, tag = "5")]
    anchor_ms: u64,
    #[prost(string, tag = "6")]
    cron: String,
    #[prost(string, tag = "7")]
    zone: String,
    #[prost(uint64, tag = "8")]
    at_ms: u64,
    /// 0 skip, 1 run once, 2 run all.
    #[prost(uint32, tag = "9")]
    misfire: u32,
    #[prost(uint64, tag = "10")]
    grace_ms: u64,
    /// 0 allow, 1 skip, 2 buffer one.
    #[prost(uint32, tag = "11")]
    overlap: u32,
    #[prost(bool, tag = "12")]
    paused: bool,
    #[prost(uint64, tag = "13")]
    next_fire_ms: u64,
    #[prost(uint64, tag = "14")]
    last_fire_ms: u64,
    #[prost(string, tag = "15")]
    last_task_id: String,
    #[prost(message, optional, tag = "16")]
    template: Option<TemplateRecord>,
}

#[derive(Clone, PartialEq, Message)]
struct TemplateRecord {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    queue: String,
    #[prost(uint32, tag = "3")]
    priority: u32,
    #[prost(string, optional, tag = "4")]
    unique_key: Option<String>,
    #[prost(uint32, tag = "5")]
    max_retries: u32,
    #[prost(uint32, tag = "6")]
    retry_backoff_ms: u32,
    #[prost(uint32, tag = "7")]
    retry_backoff_max_ms: u32,
    #[prost(uint32, tag = "8")]
    lease_ms: u32,
    #[prost(uint32, tag = "9")]
    max_lost_attempts: u32,
    /// Relative to each firing; 0 = none.
    #[prost(uint64, tag = "10")]
    expires_in_ms: u64,
    #[prost(message, optional, tag = "11")]
    body: Option<BodyRecord>,
}

/// Encodes a schedule.
pub(crate) fn encode_schedule(schedule: &Schedule) -> Vec<u8> {
    let (kind, every_ms, anchor_ms, cron, zone, at_ms) = match &schedule.recurrence {
        Recurrence::Every {
            every_ms,
            anchor_ms,
        } => (1, *every_ms, *anchor_ms, String::new(), String::new(), 0),
        Recurrence::Cron { expr, zone } => (2, 0, 0, expr.clone(), zone.clone(), 0),
        Recurrence::Once { at_ms } => (3, 0, 0, String::new(), String::new(), *at_ms),
    };
    let t = &schedule.template;
    let template = TemplateRecord {
        name: t.name.clone(),
        queue: t.queue.clone(),
        priority: u32::from(t.priority),
        unique_key: t.unique_key.clone(),
        max_retries: t.options.max_retries,
        retry_backoff_ms: t.options.retry_backoff_ms,
        retry_backoff_max_ms: t.options.retry_backoff_max_ms,
        lease_ms: t.options.lease_ms,
        max_lost_attempts: t.options.max_lost_attempts,
        expires_in_ms: match t.expires {
            Some(When::In(ms)) => ms,
            _ => 0,
        },
        body: Some(BodyRecord::from_body(t.body.clone())),
    };
    versioned(&ScheduleRecord {
        key: schedule.key,
        name: schedule.name.clone(),
        kind,
        every_ms,
        anchor_ms,
        cron,
        zone,
        at_ms,
        misfire: match schedule.misfire {
            Misfire::Skip => 0,
            Misfire::RunOnce => 1,
            Misfire::RunAll => 2,
        },
        grace_ms: schedule.grace_ms,
        overlap: match schedule.overlap {
            Overlap::Allow => 0,
            Overlap::Skip => 1,
            Overlap::BufferOne => 2,
        },
        paused: schedule.paused,
        next_fire_ms: schedule.next_fire_ms,
        last_fire_ms: schedule.last_fire_ms,
        last_task_id: schedule.last_task_id.clone(),
        template: Some(template),
    })
}

/// Decodes a schedule.
pub(crate) fn decode_schedule(key: &[u8], bytes: &[u8]) -> Result<Schedule, StoreError> {
    let r = ScheduleRecord::decode(unversioned(key, bytes)?).map_err(|e| StoreError::Corrupt {
        key: key.to_vec(),
        reason: e.to_string(),
    })?;
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_vec(),
        reason,
    };
    let recurrence = match r.kind {
        1 => Recurrence::Every {
            every_ms: r.every_ms,
            anchor_ms: r.anchor_ms,
        },
        2 => Recurrence::Cron {
            expr: r.cron,
            zone: r.zone,
        },
        3 => Recurrence::Once { at_ms: r.at_ms },
        other => return Err(corrupt(format!("unknown schedule kind {other}"))),
    };
    let t = r
        .template
        .ok_or_else(|| corrupt("a schedule without its task".into()))?;
    let template = NewTask {
        flow: None,
        id: TaskId::new(""),
        name: t.name,
        queue: t.queue,
        priority: u8::try_from(t.priority.min(9)).unwrap_or(9),
        unique_key: t.unique_key,
        options: TaskOptions {
            max_retries: t.max_retries,
            retry_backoff_ms: t.retry_backoff_ms,
            retry_backoff_max_ms: t.retry_backoff_max_ms,
            lease_ms: t.lease_ms,
            max_lost_attempts: t.max_lost_attempts,
        },
        expires: (t.expires_in_ms > 0).then_some(When::In(t.expires_in_ms)),
        eta: None,
        body: t.body.map(BodyRecord::into_body).unwrap_or_default(),
    };
    Ok(Schedule {
        key: r.key,
        name: r.name,
        recurrence,
        template,
        misfire: match r.misfire {
            1 => Misfire::RunOnce,
            2 => Misfire::RunAll,
            _ => Misfire::Skip,
        },
        grace_ms: r.grace_ms,
        overlap: match r.overlap {
            1 => Overlap::Skip,
            2 => Overlap::BufferOne,
            _ => Overlap::Allow,
        },
        paused: r.paused,
        next_fire_ms: r.next_fire_ms,
        last_fire_ms: r.last_fire_ms,
        last_task_id: r.last_task_id,
    })
}
