//! Where `stalk top`'s data comes from: a poll of queues and workers every interval, the
//! event stream, and a task's explanation and history on demand. Each runs as a task that
//! sends [`Update`]s to the one loop that owns the [`super::model::App`], so a slow broker
//! never freezes the keys.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use stalk_client::{Client, ClientError, EventQuery};
use tokio::sync::mpsc::Sender;
use tokio::task::JoinSet;

use super::model::{Snapshot, TaskDetail};
use crate::args::ConnArgs;
use crate::follow::{Follow, Followed};

/// The event types `stalk top` counts or lists; the broker filters out the rest.
const EVENT_TYPES: [&str; 8] = [
    "task-sent",
    "task-started",
    "task-succeeded",
    "task-failed",
    "task-retried",
    "task-revoked",
    "task-expired",
    "task-lost",
];

/// A message to the loop that owns the view.
#[derive(Debug)]
pub(crate) enum Update {
    /// A new snapshot of queues and workers.
    Snapshot(Snapshot),
    /// A poll failed; the next one may not.
    PollFailed(String),
    /// The event stream said something.
    Followed(Followed),
    /// The event stream stopped for good (the broker refused the watch).
    FollowFailed(String),
    /// The broker's answer about a task the user opened.
    Detail(TaskDetail),
    /// A key, a resize or another terminal event.
    Terminal(ratatui::crossterm::event::Event),
    /// The terminal could not be read: without keys the user could not even quit.
    TerminalFailed(std::io::Error),
}

/// Queues (the named ones, or all that hold tasks), the age of each queue's next task, and
/// the workers (those serving the named queues, or all).
///
/// # Errors
/// The first call the broker refuses or cannot answer.
pub(crate) async fn snapshot(client: &Client, only: &[String]) -> Result<Snapshot, ClientError> {
    let names: Vec<&str> = only.iter().map(String::as_str).collect();
    let queues = client.queue_stats(&names).await?;
    let heads: BTreeMap<String, SystemTime> = queues
        .iter()
        .filter_map(|q| Some((q.queue.clone(), q.oldest_ready_at?)))
        .collect();
    let mut workers = client.list_workers().await?;
    if !only.is_empty() {
        workers.retain(|w| w.queues.iter().any(|q| only.contains(q)));
    }
    Ok(Snapshot {
        taken_at: SystemTime::now(),
        queues,
        heads,
        workers,
    })
}

/// What the broker says about task `id`: why it is (not) running, and its history. Either
/// may fail alone (a task whose result expired has history but no explanation).
pub(crate) async fn task_detail(client: &Client, id: &str) -> TaskDetail {
    let explanation = client.explain(id).await.map_err(|err| match err.code() {
        Some(tonic::Code::NotFound) => format!(
            "the broker has no record of task {id}: results are deleted after their \
             time-to-live"
        ),
        _ => err.to_string(),
    });
    let history = client.task_history(id).await.map_err(|err| err.to_string());
    TaskDetail {
        task_id: id.to_owned(),
        explanation,
        history,
    }
}

/// The event query of `stalk top`: live events of the named queues (or all).
pub(crate) fn event_query(only: &[String], from_seq: Option<u64>) -> EventQuery {
    EventQuery {
        from_seq,
        types: EVENT_TYPES.iter().map(|&t| t.to_owned()).collect(),
        queues: only.to_vec(),
        ..EventQuery::default()
    }
}

/// Polls a snapshot every `every` until the loop stops listening.
pub(crate) fn spawn_poller(
    tasks: &mut JoinSet<()>,
    client: Client,
    only: Vec<String>,
    every: Duration,
    updates: Sender<Update>,
) {
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(every);
        // A broker slower than the interval gets polled back to back, not in bursts.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let update = match snapshot(&client, &only).await {
                Ok(snapshot) => Update::Snapshot(snapshot),
                Err(err) => Update::PollFailed(err.to_string()),
            };
            if updates.send(update).await.is_err() {
                return;
            }
        }
    });
}

/// Follows the event stream (reconnecting as [`Follow`] does) until the loop stops
/// listening.
pub(crate) fn spawn_follower(
    tasks: &mut JoinSet<()>,
    conn: ConnArgs,
    query: EventQuery,
    updates: Sender<Update>,
) {
    tasks.spawn(async move {
        let mut follow = Follow::new(conn, query);
        loop {
            let update = match follow.next().await {
                Ok(followed) => Update::Followed(followed),
                Err(err) => {
                    let _closed = updates.send(Update::FollowFailed(format!("{err:#}"))).await;
                    return;
                }
            };
            if updates.send(update).await.is_err() {
                return;
            }
        }
    });
}

/// Asks the broker about task `id` and sends the answer.
pub(crate) fn spawn_detail(
    tasks: &mut JoinSet<()>,
    client: Client,
    id: String,
    updates: Sender<Update>,
) {
    tasks.spawn(async move {
        let detail = task_detail(&client, &id).await;
        // The loop may have quit meanwhile; then nobody wants the answer.
        let _closed = updates.send(Update::Detail(detail)).await;
    });
}
