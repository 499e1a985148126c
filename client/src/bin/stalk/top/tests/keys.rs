//! Keys on made-up data: sort, filter, open, scroll, close, and a narrow terminal.

use std::time::Instant;

use ratatui::crossterm::event::KeyCode;
use stalk_client::{ExplainReason, Explanation, TaskHistory, TaskState, WorkerInfo};

use super::{app_with, failed, press, queue_order, row, screen, shows, sized_screen};
use crate::top::input::Command;
use crate::top::model::TaskDetail;

#[test]
fn s_cycles_the_sort_column_and_r_reverses_it() {
    let now = Instant::now();
    let mut app = app_with(&[("alpha", 1, 9), ("beta", 5, 0), ("gamma", 3, 4)], now);
    assert_eq!(
        queue_order(&app, now),
        ["alpha", "beta", "gamma"],
        "by name"
    );
    assert!(shows(&screen(&app, now), "QUEUE▼"));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(
        queue_order(&app, now),
        ["beta", "gamma", "alpha"],
        "most ready first"
    );
    assert!(shows(&screen(&app, now), "READY▼"));
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(
        queue_order(&app, now),
        ["alpha", "gamma", "beta"],
        "reversed"
    );
    assert!(shows(&screen(&app, now), "READY▲"));
    for _ in 0..5 {
        press(&mut app, KeyCode::Char('s'));
    }
    assert!(shows(&screen(&app, now), "DEAD▼"));
    assert_eq!(
        queue_order(&app, now),
        ["alpha", "gamma", "beta"],
        "most dead first"
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(
        queue_order(&app, now),
        ["alpha", "beta", "gamma"],
        "back to names"
    );
}

#[test]
fn the_filter_narrows_queues_and_failures_as_it_is_typed() {
    let now = Instant::now();
    let mut app = app_with(
        &[("mail", 1, 0), ("mail-bulk", 2, 0), ("reports", 3, 0)],
        now,
    );
    app.apply_event(&failed("r-1", "reports", "bad month"), now);
    press(&mut app, KeyCode::Char('/'));
    for c in "mail".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let shown = screen(&app, now);
    assert!(
        shows(&shown, "filter: mail▏"),
        "the prompt shows what is typed"
    );
    assert!(shows(&shown, "mail-bulk") && !shows(&shown, "reports"));
    assert!(
        !shows(&shown, "bad month"),
        "the failure of reports is filtered out too"
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(queue_order(&app, now), ["mail", "mail-bulk"]);
    assert!(shows(&screen(&app, now), "filter: mail (Esc clears)"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(queue_order(&app, now).len(), 3, "Esc clears the filter");
}

#[test]
fn enter_opens_the_selected_failure_and_shows_why_and_its_history() {
    let now = Instant::now();
    let mut app = app_with(&[("reports", 0, 2)], now);
    app.apply_event(&failed("r-1", "reports", "first"), now);
    app.apply_event(&failed("r-2", "reports", "second"), now);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Command::Open("r-2".into())),
        "newest first"
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Command::Open("r-1".into()))
    );
    app.show_detail(TaskDetail {
        task_id: "r-1".into(),
        explanation: Ok(Explanation {
            task_id: "r-1".into(),
            state: TaskState::Failed,
            reasons: vec![ExplainReason {
                code: "failed".into(),
                message: "it failed for good: ValueError: first".into(),
                until: None,
                worker: None,
                limit: None,
            }],
        }),
        history: Ok(TaskHistory {
            events: vec![failed("r-1", "reports", "first")],
            truncated: false,
        }),
    });
    let shown = screen(&app, now);
    assert!(shows(&shown, " Task r-1 "), "{}", shown.join("\n"));
    assert!(shows(&shown, "r-1 is FAILED"));
    assert!(shows(
        &shown,
        "it failed for good: ValueError: first [failed]"
    ));
    assert!(shows(&shown, "task-failed"), "the history lists its events");
    assert!(shows(&shown, "│Why"), "the pane starts at its top");
    press(&mut app, KeyCode::Char('j'));
    assert!(!shows(&screen(&app, now), "│Why"), "j scrolls one line");
    press(&mut app, KeyCode::Char('g'));
    assert!(shows(&screen(&app, now), "│Why"), "g goes back to the top");
    assert_eq!(press(&mut app, KeyCode::Char('q')), Some(Command::Quit));
}

#[test]
fn an_answer_for_a_closed_task_is_not_shown() {
    let now = Instant::now();
    let mut app = app_with(&[], now);
    app.apply_event(&failed("r-1", "reports", "first"), now);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Esc);
    app.show_detail(TaskDetail {
        task_id: "r-1".into(),
        explanation: Err("late".into()),
        history: Err("late".into()),
    });
    assert!(
        app.detail.is_none(),
        "the user closed it before the answer came"
    );
}

#[test]
fn a_narrow_terminal_keeps_names_and_id_tails_and_drops_the_minor_columns() {
    let now = Instant::now();
    let mut app = app_with(&[("notifications.email", 7, 1)], now);
    let id = "01a23807-7cec-7175-957a-790a65c677fb";
    app.apply_event(&failed(id, "notifications.email", "no route"), now);
    let shown = sized_screen(&app, now, 80, 24);
    assert!(shows(&shown, "…790a65c677fb"), "the id's random tail");
    let cells = row(&shown, "notifications.email");
    // QUEUE READY LEASED DEAD IN/s OUT/s WAIT50 OLDEST
    assert_eq!(cells.len(), 8, "{cells:?}");
    assert_eq!((cells[1].as_str(), cells[3].as_str()), ("7", "1"));
    assert!(!shows(&shown, "SCHED"), "{}", shown.join("\n"));
}

#[test]
fn enter_on_a_worker_opens_the_task_it_runs_and_on_an_idle_one_nothing() {
    let now = Instant::now();
    let mut app = app_with(&[], now);
    let worker = |id: &str, running: &[&str]| WorkerInfo {
        worker_id: id.into(),
        hostname: "h".into(),
        pid: 1,
        queues: vec!["q".into()],
        task_names: Vec::new(),
        sdk_version: String::new(),
        connected_at: None,
        last_seen: None,
        running: running.iter().map(|&t| (t.to_owned(), 1)).collect(),
        prefetched: Vec::new(),
        processed: 0,
    };
    if let Some(snapshot) = app.snapshot.as_mut() {
        snapshot.workers = vec![worker("w-busy", &["job-7"]), worker("w-idle", &[])];
    }
    press(&mut app, KeyCode::Tab);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Command::Open("job-7".into()))
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    assert_eq!(press(&mut app, KeyCode::Enter), None, "w-idle runs nothing");
    assert!(app.detail.is_none());
}
