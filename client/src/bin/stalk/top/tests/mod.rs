//! `stalk top` drawn on ratatui's `TestBackend`, asserting on the screen's text. These are
//! the binary's unit tests: they reach its modules, which the `it` integration tests cannot,
//! and stalk-testkit (a dev-dependency) gives them a real broker.
//!
//! - `broker`: a real broker's queue, worker and failure on screen, and its failed task opened.
//! - `keys`: sorting, filtering, opening and scrolling, on made-up data where every number is
//!   known.
//!
//! Every frame is drawn at the `Instant` the events were applied at, so rates are exact.

mod broker;
mod keys;

use std::time::{Duration, Instant, SystemTime};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stalk_client::{Event, QueueStats, TaskFailure, TaskState};

use super::input::{handle_key, Command};
use super::model::{App, Snapshot};
use super::view;

/// Generous bound for what should happen soon; a hang fails instead of stalling CI.
pub(super) const SOON: Duration = Duration::from_secs(10);

/// The window of every test app.
pub(super) const SPAN: Duration = Duration::from_secs(10);

/// The 160 × 40 screen `app` draws to, one string per row.
pub(super) fn screen(app: &App, now: Instant) -> Vec<String> {
    sized_screen(app, now, 160, 40)
}

pub(super) fn sized_screen(app: &App, now: Instant, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| view::draw(frame, app, "broker:7070", now))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect()
        })
        .collect()
}

/// The cells of the table row that starts with `first` (borders dropped).
pub(super) fn row(screen: &[String], first: &str) -> Vec<String> {
    screen
        .iter()
        .map(|line| line.replace('│', " "))
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("no row starts with {first:?}:\n{}", screen.join("\n")))
}

pub(super) fn shows(screen: &[String], text: &str) -> bool {
    screen.iter().any(|line| line.contains(text))
}

pub(super) fn press(app: &mut App, code: KeyCode) -> Option<Command> {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

/// The order the queues pane lists its queues in.
pub(super) fn queue_order(app: &App, now: Instant) -> Vec<String> {
    app.queue_rows(now)
        .into_iter()
        .map(|r| r.counts.queue)
        .collect()
}

/// An app whose snapshot lists `queues` as (name, ready, dead).
pub(super) fn app_with(queues: &[(&str, u64, u64)], now: Instant) -> App {
    let mut app = App::new(SPAN, now);
    let snapshot = Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        queues: queues
            .iter()
            .map(|&(name, ready, dead)| QueueStats {
                queue: name.to_owned(),
                ready,
                dead,
                ..QueueStats::default()
            })
            .collect(),
        heads: Default::default(),
        workers: Vec::new(),
    };
    app.apply_snapshot(snapshot, now);
    app
}

/// A `task-failed` event of `id` in `queue`.
pub(super) fn failed(id: &str, queue: &str, message: &str) -> Event {
    Event {
        seq: 1,
        kind: "task-failed".into(),
        at: None,
        task_id: Some(id.into()),
        task_name: Some("report.build".into()),
        queue: Some(queue.into()),
        attempt: 1,
        state: Some(TaskState::Failed),
        worker: None,
        due_at: None,
        runtime: Some(Duration::from_millis(5)),
        waited: None,
        error: Some(TaskFailure {
            kind: "ValueError".into(),
            message: message.into(),
        }),
        active: 0,
        processed: 0,
        note: None,
    }
}
