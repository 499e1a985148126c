//! Rendering of results as human text or as JSON documents.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::{json, Value};
use stalk_client::{
    is_json_content_type, QueueStats, TaskFailure, TaskResult, TaskState, TaskStatus, TaskSummary,
};

use crate::table::Table;

/// The longest error message shown in a table cell; the rest is cut with "…".
const TABLE_ERROR_CHARS: usize = 100;

/// A time as RFC 3339 in UTC with milliseconds, or "-".
pub(crate) fn time_text(time: Option<SystemTime>) -> String {
    time.map_or_else(
        || "-".to_owned(),
        |t| humantime::format_rfc3339_millis(t).to_string(),
    )
}

pub(crate) fn time_json(time: Option<SystemTime>) -> Value {
    time.map_or(Value::Null, |t| {
        Value::String(humantime::format_rfc3339_millis(t).to_string())
    })
}

fn error_json(error: Option<&TaskFailure>) -> Value {
    error.map_or(
        Value::Null,
        |e| json!({ "kind": e.kind, "message": e.message }),
    )
}

/// `kind: message` on one line, cut to `max_chars`.
fn error_line(error: &TaskFailure, max_chars: usize) -> String {
    let text = format!("{}: {}", error.kind, error.message);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max_chars {
        one_line
    } else {
        let cut: String = one_line.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A result value for JSON output: the parsed document for JSON, a string for other UTF-8,
/// null for binary (its size is reported beside it).
fn result_value_json(result: &TaskResult) -> Value {
    if is_json_content_type(&result.content_type) {
        if let Ok(value) = serde_json::from_slice::<Value>(&result.value) {
            return value;
        }
    }
    std::str::from_utf8(&result.value).map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// A result value for people: pretty JSON, UTF-8 text as is, else its size.
fn result_value_text(result: &TaskResult) -> String {
    if is_json_content_type(&result.content_type) {
        if let Ok(value) = serde_json::from_slice::<Value>(&result.value) {
            if let Ok(pretty) = serde_json::to_string_pretty(&value) {
                return pretty;
            }
        }
    }
    match std::str::from_utf8(&result.value) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("<{} bytes of binary data>", result.value.len()),
    }
}

/// `stalk result` as JSON.
pub(crate) fn status_json(status: &TaskStatus) -> Value {
    let result = status.result.as_ref();
    json!({
        "id": status.id,
        "state": status.state.as_str(),
        "name": status.name,
        "queue": status.queue,
        "attempts": status.attempts,
        "result": result.map_or(Value::Null, result_value_json),
        "result_content_type": result.map(|r| r.content_type.as_str()),
        "result_size": result.map(|r| r.value.len()),
        "error": error_json(status.error.as_ref()),
        "enqueued_at": time_json(status.enqueued_at),
        "started_at": time_json(status.started_at),
        "finished_at": time_json(status.finished_at),
        "due_at": time_json(status.due_at),
        "result_expires_at": time_json(status.result_expires_at),
    })
}

/// `stalk result` as text: one `label  value` line per known field, then the result.
pub(crate) fn status_text(status: &TaskStatus) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("id", status.id.clone()),
        ("state", status.state.to_string()),
        ("name", status.name.clone()),
        ("queue", status.queue.clone()),
        ("attempts", status.attempts.to_string()),
    ];
    let times = [
        ("enqueued", status.enqueued_at),
        ("started", status.started_at),
        ("finished", status.finished_at),
        ("due", status.due_at),
        ("kept until", status.result_expires_at),
    ];
    lines.extend(
        times
            .into_iter()
            .filter(|(_, time)| time.is_some())
            .map(|(label, time)| (label, time_text(time))),
    );
    if let Some(error) = &status.error {
        lines.push(("error", error_line(error, usize::MAX)));
    }
    let mut out = String::new();
    for (label, value) in lines {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{label:<11}{value}");
    }
    if let Some(result) = &status.result {
        let content_type = if result.content_type.is_empty() {
            "no content type"
        } else {
            &result.content_type
        };
        let _ = writeln!(out, "result     ({content_type})");
        let _ = writeln!(out, "{}", result_value_text(result));
    }
    out
}

/// `stalk queues` as a table.
pub(crate) fn stats_table(stats: &[QueueStats]) -> String {
    let mut table = Table::new(&[
        "QUEUE",
        "READY",
        "SCHEDULED",
        "LEASED",
        "RETRYING",
        "DEAD",
        "WAITING",
    ]);
    for s in stats {
        let name = if s.paused {
            format!("{} (paused)", s.queue)
        } else {
            s.queue.clone()
        };
        table.row(vec![
            name,
            s.ready.to_string(),
            s.scheduled.to_string(),
            s.leased.to_string(),
            s.retrying.to_string(),
            s.dead.to_string(),
            s.waiting.to_string(),
        ]);
    }
    table.render()
}

/// `stalk queues` as JSON.
pub(crate) fn stats_json(stats: &[QueueStats]) -> Value {
    stats
        .iter()
        .map(|s| {
            json!({
                "queue": s.queue, "ready": s.ready, "scheduled": s.scheduled,
                "leased": s.leased, "retrying": s.retrying, "dead": s.dead,
                "waiting": s.waiting, "paused": s.paused, "oldest_ready_at": time_json(s.oldest_ready_at),
            })
        })
        .collect()
}

/// A task listing as a table. The WAITING FOR column appears when some task waits to be
/// leased, the ERROR column when some task has an error.
pub(crate) fn summaries_table(tasks: &[TaskSummary]) -> String {
    let with_waiting = tasks.iter().any(|t| waiting_text(t).is_some());
    let with_errors = tasks.iter().any(|t| t.error.is_some());
    let mut headers = vec!["ID", "NAME", "STATE", "PRI", "ATTEMPTS", "ENQUEUED", "DUE"];
    if with_waiting {
        headers.push("WAITING FOR");
    }
    if with_errors {
        headers.push("ERROR");
    }
    let mut table = Table::new(&headers);
    for t in tasks {
        let mut row = vec![
            t.id.clone(),
            t.name.clone(),
            t.state.to_string(),
            t.priority.to_string(),
            t.attempts.to_string(),
            time_text(t.enqueued_at),
            time_text(t.due_at),
        ];
        if with_waiting {
            row.push(waiting_text(t).unwrap_or_else(|| "-".into()));
        }
        if with_errors {
            let error = t.error.as_ref();
            row.push(error.map_or_else(String::new, |e| error_line(e, TABLE_ERROR_CHARS)));
        }
        table.row(row);
    }
    table.render()
}

/// What a task that is not leased yet waits for: the limit that held a READY task back at its
/// last lease attempt (and when that limit has room), or the time a SCHEDULED or RETRYING task
/// becomes ready. `None` for other tasks, and for a READY task no limit was seen to hold (the
/// broker reports holds per task, not a queue's own limit that stops the whole queue).
fn waiting_text(t: &TaskSummary) -> Option<String> {
    let text = match t.state {
        TaskState::Ready => match (&t.waiting_for, t.waiting_until) {
            (Some(limit), Some(until)) => format!("{limit} until {}", time_text(Some(until))),
            (Some(limit), None) => limit.clone(),
            (None, _) => return None,
        },
        TaskState::Scheduled => format!("its ETA, {}", time_text(t.due_at)),
        TaskState::Retrying => format!("retry backoff until {}", time_text(t.due_at)),
        _ => return None,
    };
    Some(text)
}

/// One task of a listing as JSON.
pub(crate) fn summary_json(t: &TaskSummary) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "queue": t.queue,
        "state": t.state.as_str(),
        "priority": t.priority,
        "attempts": t.attempts,
        "enqueued_at": time_json(t.enqueued_at),
        "due_at": time_json(t.due_at),
        "error": error_json(t.error.as_ref()),
        "payload_size": t.payload_size,
        "waiting_for": t.waiting_for,
        "waiting_until": time_json(t.waiting_until),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn succeeded(value: &[u8], content_type: &str) -> TaskStatus {
        TaskStatus {
            id: "t-1".into(),
            state: TaskState::Succeeded,
            name: "email.send".into(),
            queue: "default".into(),
            result: Some(TaskResult {
                value: value.to_vec().into(),
                content_type: content_type.into(),
            }),
            error: None,
            attempts: 1,
            enqueued_at: Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)),
            started_at: None,
            finished_at: None,
            due_at: None,
            result_expires_at: None,
        }
    }

    #[test]
    fn a_json_result_is_shown_pretty_and_embedded_as_a_document() {
        let status = succeeded(br#"{"sent":true}"#, "application/json");
        let text = status_text(&status);
        assert!(text.contains("state      SUCCEEDED\n"), "{text}");
        assert!(
            text.contains("enqueued   2023-11-14T22:13:20.000Z\n"),
            "{text}"
        );
        assert!(text.contains("{\n  \"sent\": true\n}"), "{text}");
        assert!(
            !text.contains("started"),
            "unset times are left out: {text}"
        );
        let doc = status_json(&status);
        assert_eq!(doc["result"], json!({"sent": true}));
        assert_eq!(doc["started_at"], Value::Null);
    }

    #[test]
    fn binary_results_are_described_not_dumped() {
        let status = succeeded(&[0xff, 0x00, 0xfe], "application/octet-stream");
        assert!(status_text(&status).contains("<3 bytes of binary data>"));
        let doc = status_json(&status);
        assert_eq!(
            (doc["result"].clone(), doc["result_size"].clone()),
            (Value::Null, json!(3))
        );
    }

    #[test]
    fn long_multi_line_errors_fit_one_table_cell() {
        let error = TaskFailure {
            kind: "Boom".into(),
            message: format!("first line\n{}", "x".repeat(200)),
        };
        let line = error_line(&error, 20);
        assert_eq!(line.chars().count(), 20, "{line}");
        assert!(
            line.starts_with("Boom: first line x") && line.ends_with('…'),
            "{line}"
        );
    }
}
