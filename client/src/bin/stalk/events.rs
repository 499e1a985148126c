//! `stalk events` (tail the event stream, resuming after a disconnect), `stalk task ID
//! --history` (a task's state and every event it went through) and `stalk explain ID` (why it
//! is not running).

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde_json::{json, Value};
use stalk_client::{Client, Event, EventQuery, Explanation, TaskState};

use crate::args::ConnArgs;
use crate::commands::{emit, emit_json};
use crate::exit::CliError;
use crate::follow::{Follow, Followed};
use crate::render;

/// `stalk events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Start at this event number (the retained events from there first, then live ones);
    /// default: only new events. 0 starts at the oldest retained event.
    #[arg(long, value_name = "SEQ")]
    pub(crate) from: Option<u64>,
    /// Only events of this type (`task-succeeded`, `task-failed`, `worker-online`, …); repeat
    /// for more.
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) types: Vec<String>,
    /// Only events of this queue; repeat for more.
    #[arg(long = "queue", value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    /// Only events of tasks with this name; repeat for more.
    #[arg(long = "task-name", value_name = "NAME")]
    pub(crate) task_names: Vec<String>,
    /// Only events of this worker; repeat for more.
    #[arg(long = "worker", value_name = "WORKER")]
    pub(crate) workers: Vec<String>,
    /// Only events of this task; repeat for more.
    #[arg(long = "task", value_name = "ID")]
    pub(crate) task_ids: Vec<String>,
    /// Exit once the retained events were printed instead of following live ones.
    #[arg(long)]
    pub(crate) no_follow: bool,
}

/// `stalk task`.
#[derive(Debug, Args)]
pub(crate) struct TaskArgs {
    /// The task id.
    pub(crate) id: String,
    /// Also list every retained event of the task, oldest first.
    #[arg(long)]
    pub(crate) history: bool,
}

/// Whether to go on after printing.
enum Printed {
    More,
    /// stdout was closed (`stalk events | head`).
    Closed,
}

/// Tails the event stream: one line per event (one JSON object per line with `--json`). A
/// broker that goes away is reconnected to, from the last event printed, so nothing is missed
/// while it is retained; a watch that asked for removed events goes on from the oldest kept,
/// saying so on stderr.
pub(crate) async fn tail(conn: &ConnArgs, args: EventsArgs, json: bool) -> anyhow::Result<()> {
    let query = EventQuery {
        from_seq: args.from,
        types: args.types,
        queues: args.queues,
        task_names: args.task_names,
        workers: args.workers,
        task_ids: args.task_ids,
        stop_at_end: args.no_follow,
    };
    let mut follow = Follow::new(conn.clone(), query);
    loop {
        match follow.next().await? {
            Followed::Event(event) => {
                if let Printed::Closed = print_line(&event, json)? {
                    return Ok(());
                }
            }
            Followed::Notice(notice) => eprintln!("stalk: {notice}"),
            Followed::Live => {}
            Followed::End => return Ok(()),
        }
    }
}

fn print_line(event: &Event, json: bool) -> anyhow::Result<Printed> {
    let mut line = if json {
        serde_json::to_string(&event_json(event)).context("encoding an event")?
    } else {
        event_text(event)
    };
    line.push('\n');
    let mut out = std::io::stdout().lock();
    match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(Printed::More),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(Printed::Closed),
        Err(err) => Err(err).context("writing to stdout"),
    }
}

/// One event as a line of text: number, time, type, then the fields it has.
pub(crate) fn event_text(event: &Event) -> String {
    let mut line = format!(
        "{:>12}  {}  {:<18}",
        event.seq,
        render::time_text(event.at),
        event.kind
    );
    let mut field = |name: &str, value: &str| {
        line.push_str("  ");
        line.push_str(name);
        line.push('=');
        line.push_str(value);
    };
    if let Some(id) = &event.task_id {
        field("task", id);
    }
    if let Some(name) = &event.task_name {
        field("name", name);
    }
    if let Some(queue) = &event.queue {
        field("queue", queue);
    }
    if event.task_id.is_some() && event.attempt > 0 {
        field("attempt", &event.attempt.to_string());
    }
    if let Some(worker) = &event.worker {
        field("worker", worker);
    }
    if event.due_at.is_some() {
        field("due", &render::time_text(event.due_at));
    }
    if let Some(runtime) = event.runtime {
        field("runtime", &format!("{}ms", runtime.as_millis()));
    }
    if let Some(waited) = event.waited {
        field("waited", &format!("{}ms", waited.as_millis()));
    }
    if event.kind == "worker-heartbeat" {
        field("active", &event.active.to_string());
        field("processed", &event.processed.to_string());
    }
    if let Some(error) = &event.error {
        let text = format!("{}: {}", error.kind, error.message);
        field("error", &format!("{text:?}"));
    }
    if let Some(note) = &event.note {
        field("note", &format!("{note:?}"));
    }
    line
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn event_json(event: &Event) -> Value {
    let time = render::time_json;
    json!({
        "seq": event.seq,
        "type": event.kind,
        "at": time(event.at),
        "task_id": event.task_id,
        "task_name": event.task_name,
        "queue": event.queue,
        "attempt": event.attempt,
        "state": event.state.map(|s| s.to_string()),
        "worker": event.worker,
        "due_at": time(event.due_at),
        "runtime_ms": event.runtime.map(millis),
        "waited_ms": event.waited.map(millis),
        "error": event.error.as_ref().map(|e| json!({ "kind": e.kind, "message": e.message })),
        "active": event.active,
        "processed": event.processed,
        "note": event.note,
    })
}

/// `stalk explain ID`: the task's state, then one line per reason.
pub(crate) async fn explain(client: &Client, id: &str, json: bool) -> anyhow::Result<()> {
    let explained = match client.explain(id).await {
        Err(err) if err.code() == Some(tonic::Code::NotFound) => {
            return Err(CliError::UnknownTasks {
                ids: vec![id.to_owned()],
            }
            .into())
        }
        other => other?,
    };
    if json {
        let reasons: Vec<Value> = explained
            .reasons
            .iter()
            .map(|r| {
                json!({
                    "code": r.code,
                    "message": r.message,
                    "until": render::time_json(r.until),
                    "worker": r.worker,
                    "limit": r.limit,
                })
            })
            .collect();
        return emit_json(&json!({
            "task_id": explained.task_id,
            "state": explained.state.to_string(),
            "reasons": reasons,
        }));
    }
    emit(&explanation_text(&explained))
}

/// An explanation as text: the task's state, then one line per reason.
pub(crate) fn explanation_text(explained: &Explanation) -> String {
    let mut text = format!("{} is {}\n", explained.task_id, explained.state);
    for reason in &explained.reasons {
        text.push_str("  - ");
        text.push_str(&reason.message);
        if reason.until.is_some() {
            text.push_str(&format!(" (until {})", render::time_text(reason.until)));
        }
        text.push_str(&format!(" [{}]\n", reason.code));
    }
    text
}

/// `stalk task ID [--history]`: the task's state, and with `--history` its events.
pub(crate) async fn task(client: &Client, args: TaskArgs, json: bool) -> anyhow::Result<()> {
    let status = client.result(&args.id, None).await?;
    let history = if args.history {
        Some(client.task_history(&args.id).await?)
    } else {
        None
    };
    let no_events = history.as_ref().is_none_or(|h| h.events.is_empty());
    if status.state == TaskState::Unknown && no_events {
        return Err(CliError::UnknownTasks { ids: vec![args.id] }.into());
    }
    if json {
        let mut doc = render::status_json(&status);
        if let (Some(history), Some(object)) = (&history, doc.as_object_mut()) {
            object.insert(
                "history".into(),
                history.events.iter().map(event_json).collect(),
            );
            object.insert("history_truncated".into(), history.truncated.into());
        }
        return emit_json(&doc);
    }
    let mut text = render::status_text(&status);
    if let Some(history) = history {
        text.push_str("\nhistory:\n");
        if history.truncated {
            text.push_str("  (earlier events were removed by the broker's retention)\n");
        }
        for event in &history.events {
            text.push_str("  ");
            text.push_str(&event_text(event));
            text.push('\n');
        }
    }
    emit(&text)
}
