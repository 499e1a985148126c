//! The dashboard's JSON: the gRPC answers in a shape a page reads easily (states and kinds by
//! name, times as Unix milliseconds, payloads as text when they are UTF-8).

use serde_json::{json, Value};
use stalk_proto::v1 as pb;

/// Most bytes of a result value shown on a task's page.
const RESULT_SHOWN: usize = 64 << 10;

/// A task state's name as the CLI prints it (`ready`, `succeeded`).
fn state(value: i32) -> String {
    pb::TaskState::try_from(value)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("TASK_STATE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| format!("state {value}"))
}

fn error(error: Option<&pb::Error>) -> Value {
    error.map_or(
        Value::Null,
        |e| json!({"kind": e.kind, "message": e.message}),
    )
}

/// Queue depths by state.
pub(super) fn queues(response: &pb::QueueStatsResponse) -> Value {
    let queues: Vec<Value> = response
        .queues
        .iter()
        .map(|q| {
            json!({
                "queue": q.queue, "ready": q.ready, "scheduled": q.scheduled,
                "leased": q.leased, "retrying": q.retrying, "dead": q.dead, "paused": q.paused,
                "oldest_ready_at_ms": q.oldest_ready_at_unix_ms,
            })
        })
        .collect();
    json!({ "queues": queues })
}

/// Connected workers.
pub(super) fn workers(response: &pb::ListWorkersResponse) -> Value {
    let workers: Vec<Value> = response
        .workers
        .iter()
        .map(|w| {
            let running = w.tasks.iter().filter(|t| t.started).count();
            json!({
                "worker_id": w.worker_id, "hostname": w.hostname, "pid": w.pid,
                "queues": w.queues, "task_names": w.task_names, "sdk_version": w.sdk_version,
                "connected_at_ms": w.connected_at_unix_ms, "last_seen_ms": w.last_seen_unix_ms,
                "processed": w.processed, "running": running,
                "prefetched": w.tasks.len() - running,
            })
        })
        .collect();
    json!({ "workers": workers })
}

/// One event.
pub(super) fn event(e: &pb::Event) -> Value {
    json!({
        "seq": e.seq, "type": e.type_name, "at_ms": e.at_unix_ms, "task_id": e.task_id,
        "task_name": e.task_name, "queue": e.queue, "attempt": e.attempt,
        "state": state(e.state), "worker": e.worker, "due_at_ms": e.due_at_unix_ms,
        "runtime_ms": e.runtime_ms, "waited_ms": e.waited_ms, "error": error(e.error.as_ref()),
        "active": e.active, "processed": e.processed, "note": e.note,
    })
}

/// A task's record (GetResult).
pub(super) fn task(r: &pb::GetResultResponse) -> Value {
    let result = r.result.as_ref().map_or(Value::Null, |result| {
        let shown = &result.value[..result.value.len().min(RESULT_SHOWN)];
        json!({
            "content_type": result.content_type,
            "size": result.value.len(),
            "text": std::str::from_utf8(shown).ok(),
        })
    });
    json!({
        "task_id": r.task_id, "state": state(r.state), "name": r.name, "queue": r.queue,
        "attempts": r.attempts, "enqueued_at_ms": r.enqueued_at_unix_ms,
        "started_at_ms": r.started_at_unix_ms, "finished_at_ms": r.finished_at_unix_ms,
        "due_at_ms": r.due_at_unix_ms, "result_expires_at_ms": r.result_expires_at_unix_ms,
        "error": error(r.error.as_ref()), "result": result,
    })
}

/// Why a task is (not) running.
pub(super) fn explain(r: &pb::ExplainResponse) -> Value {
    let reasons: Vec<Value> = r
        .reasons
        .iter()
        .map(|reason| {
            json!({
                "code": reason.code, "message": reason.message,
                "until_ms": reason.until_unix_ms, "worker": reason.worker, "limit": reason.limit,
            })
        })
        .collect();
    json!({ "state": state(r.state), "reasons": reasons })
}

/// A page of a queue's tasks.
pub(super) fn tasks(r: &pb::ListTasksResponse) -> Value {
    let tasks: Vec<Value> = r
        .tasks
        .iter()
        .map(|t| {
            json!({
                "task_id": t.task_id, "name": t.name, "queue": t.queue, "state": state(t.state),
                "priority": t.priority, "attempts": t.attempts,
                "enqueued_at_ms": t.enqueued_at_unix_ms, "due_at_ms": t.due_at_unix_ms,
                "error": error(t.error.as_ref()), "payload_size": t.payload_size,
            })
        })
        .collect();
    json!({ "tasks": tasks, "next_page_token": r.next_page_token })
}

/// Schedules with their next and last slots.
pub(super) fn schedules(r: &pb::ListSchedulesResponse) -> Value {
    let schedules: Vec<Value> = r
        .schedules
        .iter()
        .map(|info| {
            let spec = info.schedule.clone().unwrap_or_default();
            let when = match &spec.when {
                Some(pb::schedule_spec::When::Every(e)) => format!("every {} ms", e.every_ms),
                Some(pb::schedule_spec::When::Cron(c)) if c.time_zone.is_empty() => {
                    format!("cron {} (UTC)", c.expression)
                }
                Some(pb::schedule_spec::When::Cron(c)) => {
                    format!("cron {} ({})", c.expression, c.time_zone)
                }
                Some(pb::schedule_spec::When::Once(o)) => format!("once at {} ms", o.at_unix_ms),
                None => String::new(),
            };
            let task = spec.task.unwrap_or_default();
            json!({
                "name": spec.name, "when": when, "task_name": task.name, "queue": task.queue,
                "paused": spec.paused, "next_fire_ms": info.next_fire_unix_ms,
                "last_fire_ms": info.last_fire_unix_ms, "last_task_id": info.last_task_id,
            })
        })
        .collect();
    json!({ "schedules": schedules })
}

/// Rate limits and concurrency caps with their live counts.
pub(super) fn limits(r: &pb::LimitsResponse) -> Value {
    let limits: Vec<Value> = r
        .limits
        .iter()
        .map(|l| {
            json!({
                "scope": l.scope, "per_header": l.per_header, "rate": l.rate, "burst": l.burst,
                "max_concurrency": l.max_concurrency, "running": l.running, "waiting": l.waiting,
            })
        })
        .collect();
    json!({ "limits": limits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_named_as_the_cli_names_them() {
        assert_eq!(state(pb::TaskState::Ready.into()), "ready");
        assert_eq!(state(pb::TaskState::Succeeded.into()), "succeeded");
        assert_eq!(state(99), "state 99");
    }

    #[test]
    fn a_binary_result_is_not_shown_as_text() {
        let r = pb::GetResultResponse {
            result: Some(pb::TaskResult {
                value: vec![0xff, 0xfe].into(),
                content_type: "application/octet-stream".into(),
            }),
            ..Default::default()
        };
        let shown = task(&r);
        assert_eq!(shown["result"]["size"], 2);
        assert!(shown["result"]["text"].is_null());
    }
}
