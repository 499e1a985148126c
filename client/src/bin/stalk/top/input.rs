//! Keys: each key changes the [`App`] where it can, and asks the runner for what needs the
//! broker or the terminal ([`Command`]).
//!
//! | key | does |
//! |---|---|
//! | `q`, Ctrl-C | quit |
//! | Tab, Shift-Tab, `1` `2` `3` | move between the queues, workers and failures panes |
//! | ↑ ↓ `k` `j`, PgUp PgDn, Home End `g` `G` | move the selection |
//! | `s` / `r` | sort the pane by the next column / reverse its order |
//! | `/` | type a filter (Enter keeps it, Esc drops it); Esc later clears it |
//! | Enter | open the selected failure's task (or the task the selected worker runs) |
//! | ↑ ↓ `k` `j`, PgUp PgDn, Home `g` | scroll the open task |
//! | Esc | close the task |

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{App, Detail, Pane, QueueColumn, WorkerColumn};

/// How far PgUp and PgDn move a selection or scroll the task.
const PAGE: u8 = 10;

/// What the runner does after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Restore the terminal and exit.
    Quit,
    /// Ask the broker about this task; its pane shows "loading" until the answer.
    Open(String),
}

/// Applies `key` to `app`.
pub(crate) fn handle_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    // Terminals that report releases would otherwise act twice.
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Raw mode turns Ctrl-C into a key: it must still quit from anywhere.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return Some(Command::Quit);
    }
    if app.editing_filter {
        edit_filter(app, key.code);
        return None;
    }
    if app.detail.is_some() {
        let scroll = &mut app.detail_scroll;
        match key.code {
            KeyCode::Char('q') => return Some(Command::Quit),
            KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace => app.detail = None,
            KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
            KeyCode::PageUp => *scroll = scroll.saturating_sub(u16::from(PAGE)),
            KeyCode::PageDown => *scroll = scroll.saturating_add(u16::from(PAGE)),
            KeyCode::Home | KeyCode::Char('g') => *scroll = 0,
            _ => {}
        }
        return None;
    }
    match key.code {
        KeyCode::Char('q') => return Some(Command::Quit),
        KeyCode::Tab => app.focus = next_pane(app.focus),
        KeyCode::BackTab => app.focus = next_pane(next_pane(app.focus)),
        KeyCode::Char('1') => app.focus = Pane::Queues,
        KeyCode::Char('2') => app.focus = Pane::Workers,
        KeyCode::Char('3') => app.focus = Pane::Failures,
        KeyCode::Up | KeyCode::Char('k') => move_by(app, -1),
        KeyCode::Down | KeyCode::Char('j') => move_by(app, 1),
        KeyCode::PageUp => move_by(app, -isize::from(PAGE)),
        KeyCode::PageDown => move_by(app, isize::from(PAGE)),
        KeyCode::Home | KeyCode::Char('g') => move_by(app, isize::MIN),
        KeyCode::End | KeyCode::Char('G') => move_by(app, isize::MAX),
        KeyCode::Char('s') => cycle_sort(app),
        KeyCode::Char('r') => reverse_sort(app),
        KeyCode::Char('/') => app.editing_filter = true,
        KeyCode::Esc => app.filter.clear(),
        KeyCode::Enter => {
            let id = app.task_to_open()?;
            app.detail = Some(Detail::Loading(id.clone()));
            app.detail_scroll = 0;
            return Some(Command::Open(id));
        }
        _ => {}
    }
    None
}

fn edit_filter(app: &mut App, code: KeyCode) {
    match code {
        KeyCode::Char(c) => app.filter.push(c),
        KeyCode::Backspace => {
            app.filter.pop();
        }
        KeyCode::Enter => app.editing_filter = false,
        KeyCode::Esc => {
            app.filter.clear();
            app.editing_filter = false;
        }
        _ => {}
    }
}

fn next_pane(pane: Pane) -> Pane {
    match pane {
        Pane::Queues => Pane::Workers,
        Pane::Workers => Pane::Failures,
        Pane::Failures => Pane::Queues,
    }
}

/// Moves the focused pane's selection by `delta` rows, stopping at either end.
fn move_by(app: &mut App, delta: isize) {
    let pane = app.focus;
    let last = app.row_count(pane).saturating_sub(1);
    let from = app.selected_in(pane);
    app.selected[pane as usize] = from.saturating_add_signed(delta).min(last);
}

/// Sorts the focused pane by its next column, in that column's natural order.
fn cycle_sort(app: &mut App) {
    match app.focus {
        Pane::Queues => {
            let next = match app.queue_sort.0 {
                QueueColumn::Name => QueueColumn::Ready,
                QueueColumn::Ready => QueueColumn::In,
                QueueColumn::In => QueueColumn::Out,
                QueueColumn::Out => QueueColumn::Wait,
                QueueColumn::Wait => QueueColumn::Oldest,
                QueueColumn::Oldest => QueueColumn::Dead,
                QueueColumn::Dead => QueueColumn::Name,
            };
            app.queue_sort = (next, false);
        }
        Pane::Workers => {
            let next = match app.worker_sort.0 {
                WorkerColumn::Id => WorkerColumn::Busy,
                WorkerColumn::Busy => WorkerColumn::Processed,
                WorkerColumn::Processed => WorkerColumn::Seen,
                WorkerColumn::Seen => WorkerColumn::Id,
            };
            app.worker_sort = (next, false);
        }
        // Failures stay newest first: their order is their story.
        Pane::Failures => {}
    }
}

fn reverse_sort(app: &mut App) {
    match app.focus {
        Pane::Queues => app.queue_sort.1 = !app.queue_sort.1,
        Pane::Workers => app.worker_sort.1 = !app.worker_sort.1,
        Pane::Failures => {}
    }
}
