//! Drawing an [`App`] into a ratatui [`Frame`]: a status line, the queues, workers and
//! failures panes, a help line (or the filter being typed), and the task pane over them.

use std::time::{Duration, Instant, SystemTime};

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Style, Stylize as _};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::model::{App, Detail, Feed, Pane, QueueColumn, QueueRow, TaskDetail, WorkerColumn};
use crate::events::{event_text, explanation_text};

const HELP: &str = "q quit · Tab pane · ↑↓ select · s sort · r reverse · / filter · \
                    Enter open task · Esc close";

/// Draws `app` as of `now` (rates are computed for that instant).
pub(crate) fn draw(frame: &mut Frame, app: &App, broker: &str, now: Instant) {
    let [status, queues, workers, failures, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(40),
        Constraint::Percentage(25),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(status_line(app, broker), status);
    draw_queues(frame, app, queues, now);
    draw_workers(frame, app, workers);
    draw_failures(frame, app, failures);
    frame.render_widget(help_line(app), help);
    if let Some(detail) = &app.detail {
        draw_detail(frame, detail, app.detail_scroll);
    }
}

fn status_line(app: &App, broker: &str) -> Line<'static> {
    let feed = match &app.feed {
        Feed::Connecting => "connecting".to_owned(),
        Feed::Live => "live".to_owned(),
        Feed::Notice(notice) => notice.clone(),
    };
    let updated = app
        .snapshot
        .as_ref()
        .map_or_else(|| "never".to_owned(), |s| clock(s.taken_at));
    let mut line = Line::from(format!(
        "stalk top · {broker} · events {feed} · updated {updated} · rates over {}s",
        app.span.as_secs()
    ))
    .bold();
    if let Some(error) = &app.poll_error {
        line.push_span(format!(" · {error}").red());
    }
    line
}

fn help_line(app: &App) -> Line<'static> {
    if app.editing_filter {
        return Line::from(format!(
            "filter: {}▏  (Enter keeps it · Esc drops it)",
            app.filter
        ))
        .yellow();
    }
    let mut line = Line::from(HELP).dim();
    if !app.filter.is_empty() {
        line.push_span(format!("  filter: {} (Esc clears)", app.filter).yellow());
    }
    line
}

/// A pane's frame: its title, highlighted when the keys act on it.
fn pane_block(app: &App, pane: Pane, title: String) -> Block<'static> {
    let block = Block::bordered().title(title);
    if app.focus == pane {
        block.border_style(Style::new().fg(Color::Cyan)).bold()
    } else {
        block
    }
}

/// A header row of the columns given as (index, title), with an arrow on the sorted one;
/// columns from index `numbers_from` on hold numbers and are right-aligned, as their cells
/// are.
fn header<'a>(
    columns: impl IntoIterator<Item = (usize, &'a str)>,
    sorted: usize,
    reversed: bool,
    numbers_from: usize,
) -> Row<'static> {
    let arrow = if reversed { "▲" } else { "▼" };
    Row::new(columns.into_iter().map(|(i, title)| {
        let text = if i == sorted {
            format!("{title}{arrow}")
        } else {
            title.to_owned()
        };
        if i >= numbers_from {
            number(text)
        } else {
            Cell::from(text)
        }
    }))
    .bold()
    .underlined()
}

/// A right-aligned cell, so the digits of a column line up.
fn number(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

fn draw_table(frame: &mut Frame, app: &App, pane: Pane, table: Table<'_>, area: Rect) {
    let mut state = TableState::default();
    if app.focus == pane && app.row_count(pane) > 0 {
        state.select(Some(app.selected_in(pane)));
    }
    let table = table.row_highlight_style(Style::new().reversed());
    frame.render_stateful_widget(table, area, &mut state);
}

/// The queues pane's columns.
const QUEUE_TITLES: [&str; 12] = [
    "QUEUE", "READY", "SCHED", "LEASED", "RETRY", "DEAD", "IN/s", "OUT/s", "WAIT50", "WAIT99",
    "RUN50", "OLDEST",
];

/// Below this width the queues pane drops its less telling columns (SCHED, RETRY, WAIT99,
/// RUN50), so an 80-column terminal still has room for queue names.
const WIDE: u16 = 120;

/// How many trailing characters of a task id a narrow failures pane shows.
const ID_TAIL: u16 = 12;

/// The queues pane's columns that fit in `width`, by index into [`QUEUE_TITLES`].
fn queue_columns(width: u16) -> &'static [usize] {
    if width >= WIDE {
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    } else {
        &[0, 1, 3, 5, 6, 7, 8, 11]
    }
}

fn draw_queues(frame: &mut Frame, app: &App, area: Rect, now: Instant) {
    let rows = app.queue_rows(now);
    let columns = queue_columns(area.width);
    let (column, reversed) = app.queue_sort;
    let sorted = match column {
        QueueColumn::Name => 0,
        QueueColumn::Ready => 1,
        QueueColumn::Dead => 5,
        QueueColumn::In => 6,
        QueueColumn::Out => 7,
        QueueColumn::Wait => 8,
        QueueColumn::Oldest => 11,
    };
    let titles = columns
        .iter()
        .filter_map(|&i| Some((i, *QUEUE_TITLES.get(i)?)));
    let widths = columns.iter().map(|&i| {
        if i == 0 {
            Constraint::Fill(1)
        } else {
            Constraint::Length(7)
        }
    });
    let table = Table::new(rows.iter().map(|row| queue_row(row, columns)), widths)
        .header(header(titles, sorted, reversed, 1))
        .block(pane_block(
            app,
            Pane::Queues,
            format!(" Queues ({}) ", rows.len()),
        ));
    draw_table(frame, app, Pane::Queues, table, area);
}

/// A queue's row: the cells of `columns` only.
fn queue_row(row: &QueueRow, columns: &[usize]) -> Row<'static> {
    let c = &row.counts;
    let name = if c.paused {
        format!("{} (paused)", c.queue)
    } else {
        c.queue.clone()
    };
    let numbers = [
        c.ready.to_string(),
        c.scheduled.to_string(),
        c.leased.to_string(),
        c.retrying.to_string(),
        c.dead.to_string(),
        rate(row.rates.in_per_sec),
        rate(row.rates.out_per_sec),
        latency(row.rates.wait_p50),
        latency(row.rates.wait_p99),
        latency(row.rates.run_p50),
        row.oldest.map_or_else(|| "-".to_owned(), age),
    ];
    let mut cells: Vec<Option<Cell>> = [Cell::from(name)]
        .into_iter()
        .chain(numbers.map(number))
        .map(Some)
        .collect();
    Row::new(columns.iter().filter_map(|&i| cells.get_mut(i)?.take()))
}

fn draw_workers(frame: &mut Frame, app: &App, area: Rect) {
    let rows = app.worker_rows();
    let taken_at = app.snapshot.as_ref().map(|s| s.taken_at);
    let (column, reversed) = app.worker_sort;
    let sorted = match column {
        WorkerColumn::Id => 0,
        WorkerColumn::Busy => 3,
        WorkerColumn::Processed => 5,
        WorkerColumn::Seen => 6,
    };
    let titles = ["WORKER", "HOST", "QUEUES", "BUSY", "HELD", "DONE", "SEEN"];
    let widths = [
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Fill(2),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(7),
    ];
    let table = Table::new(
        rows.iter().map(|w| {
            let seen = match (taken_at, w.last_seen) {
                (Some(now), Some(seen)) => age(now.duration_since(seen).unwrap_or_default()),
                _ => "-".to_owned(),
            };
            let numbers = [
                w.running.len().to_string(),
                w.prefetched.len().to_string(),
                w.processed.to_string(),
                seen,
            ];
            let names = [w.worker_id.clone(), w.hostname.clone(), w.queues.join(",")];
            Row::new(names.map(Cell::from).into_iter().chain(numbers.map(number)))
        }),
        widths,
    )
    .header(header(titles.into_iter().enumerate(), sorted, reversed, 3))
    .block(pane_block(
        app,
        Pane::Workers,
        format!(" Workers ({}) ", rows.len()),
    ));
    draw_table(frame, app, Pane::Workers, table, area);
}

fn draw_failures(frame: &mut Frame, app: &App, area: Rect) {
    let rows = app.failure_rows();
    let titles = ["TIME", "OUTCOME", "QUEUE", "TASK", "ID", "TRY", "ERROR"];
    // Task ids (UUIDv7) share their leading, time-based digits with their neighbours: a
    // narrow terminal shows their random tail, which tells them apart.
    let id_chars = if area.width >= WIDE { 36 } else { ID_TAIL + 1 };
    let widths = [
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(id_chars),
        Constraint::Length(3),
        Constraint::Fill(3),
    ];
    let table = Table::new(
        rows.iter().map(|f| {
            let id = if f.task_id.chars().count() > usize::from(id_chars) {
                let tail: String = f.task_id.chars().rev().take(ID_TAIL.into()).collect();
                format!("…{}", tail.chars().rev().collect::<String>())
            } else {
                f.task_id.clone()
            };
            let row = Row::new([
                f.at.map_or_else(|| "-".to_owned(), clock),
                f.outcome.clone(),
                f.queue.clone(),
                f.task_name.clone(),
                id,
                f.attempt.to_string(),
                f.error.clone(),
            ]);
            if f.outcome == "failed" {
                row.red()
            } else {
                row
            }
        }),
        widths,
    )
    .header(header(titles.into_iter().enumerate(), 0, false, usize::MAX))
    .block(pane_block(
        app,
        Pane::Failures,
        format!(" Recent failures ({}, newest first) ", rows.len()),
    ));
    draw_table(frame, app, Pane::Failures, table, area);
}

fn draw_detail(frame: &mut Frame, detail: &Detail, scroll: u16) {
    let [area] = Layout::horizontal([Constraint::Percentage(90)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Percentage(80)])
        .flex(Flex::Center)
        .areas(area);
    let (id, text) = match detail {
        Detail::Loading(id) => (id.as_str(), Text::from("asking the broker…")),
        Detail::Loaded(detail) => (detail.task_id.as_str(), detail_text(detail)),
    };
    let block = Block::bordered()
        .title(format!(" Task {id} "))
        .title_bottom(" ↑↓ scroll · Esc close ")
        .border_style(Style::new().fg(Color::Cyan));
    frame.render_widget(Clear, area);
    // Scrolling stops at the last line: past it the pane would be blank.
    let last = u16::try_from(text.lines.len().saturating_sub(1)).unwrap_or(u16::MAX);
    let paragraph = Paragraph::new(text)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((scroll.min(last), 0));
    frame.render_widget(paragraph, area);
}

fn detail_text(detail: &TaskDetail) -> Text<'static> {
    let mut lines: Vec<Line> = vec![Line::from("Why").bold()];
    match &detail.explanation {
        Ok(explained) => lines.extend(
            explanation_text(explained)
                .lines()
                .map(|l| Line::from(l.to_owned())),
        ),
        Err(error) => lines.push(Line::from(error.clone()).red()),
    }
    lines.push(Line::default());
    lines.push(Line::from("History").bold());
    match &detail.history {
        Ok(history) => {
            if history.truncated {
                lines.push(Line::from(
                    "(earlier events were removed by the broker's retention)",
                ));
            }
            lines.extend(history.events.iter().map(|e| Line::from(event_text(e))));
        }
        Err(error) => lines.push(Line::from(error.clone()).red()),
    }
    Text::from(lines)
}

/// Per second: one decimal below 10, whole above; a bare 0 when nothing happened.
fn rate(per_sec: f64) -> String {
    if per_sec == 0.0 {
        "0".to_owned()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}")
    } else {
        format!("{per_sec:.0}")
    }
}

/// A latency: milliseconds below 10 s, else seconds; "-" without samples.
fn latency(value: Option<Duration>) -> String {
    match value {
        None => "-".to_owned(),
        Some(d) if d < Duration::from_secs(10) => format!("{}ms", d.as_millis()),
        Some(d) => format!("{}s", d.as_secs()),
    }
}

/// An age in its largest whole unit: 42s, 5m, 3h, 2d.
fn age(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// The time of day in UTC, `HH:MM:SS`.
fn clock(at: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    stamp.get(11..19).unwrap_or(&stamp).to_owned()
}
