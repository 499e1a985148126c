//! `stalk top` drawn on ratatui's `TestBackend`, asserting on the screen's text: first from a
//! real broker (stalk-testkit, a dev-dependency the binary's unit tests can use, which the
//! `it` integration tests could not: they cannot reach the binary's modules), then the keys
//! on made-up data, where every number is known.
//!
//! Every frame is drawn at the `Instant` the events were applied at, so rates are exact.

use std::time::{Duration, Instant, SystemTime};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stalk_client::proto as pb;
use stalk_client::{
    Event, ExplainReason, Explanation, LeaseOptions, QueueStats, Task, TaskFailure, TaskHistory,
    TaskState,
};
use stalk_testkit::{wait_until, TestBroker};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::feed;
use super::input::{handle_key, Command};
use super::model::{App, Snapshot, TaskDetail};
use super::view;
use crate::args::ConnArgs;
use crate::follow::{Follow, Followed};

/// Generous bound for what should happen soon; a hang fails instead of stalling CI.
const SOON: Duration = Duration::from_secs(10);

const SPAN: Duration = Duration::from_secs(10);

/// The 160 × 40 screen `app` draws to, one string per row.
fn screen(app: &App, now: Instant) -> Vec<String> {
    sized_screen(app, now, 160, 40)
}

fn sized_screen(app: &App, now: Instant, width: u16, height: u16) -> Vec<String> {
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
fn row(screen: &[String], first: &str) -> Vec<String> {
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

fn shows(screen: &[String], text: &str) -> bool {
    screen.iter().any(|line| line.contains(text))
}

fn press(app: &mut App, code: KeyCode) -> Option<Command> {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

/// The order the queues pane lists its queues in.
fn queue_order(app: &App, now: Instant) -> Vec<String> {
    app.queue_rows(now)
        .into_iter()
        .map(|r| r.counts.queue)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_shows_a_real_brokers_queue_worker_and_failure_and_opens_the_failed_task() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    // A worker that says hello and takes nothing (no credit), so it shows up idle.
    let (to_broker, outbound) = mpsc::channel(4);
    let hello = pb::Hello {
        worker_id: "w-top".into(),
        queues: vec!["mail".into()],
        task_names: vec!["mail.send".into()],
        ..pb::Hello::default()
    };
    to_broker
        .send(pb::WorkerMessage {
            kind: Some(pb::worker_message::Kind::Hello(hello)),
        })
        .await
        .unwrap();
    let _session = pb::workers_client::WorkersClient::new(client.channel())
        .session(ReceiverStream::new(outbound))
        .await
        .unwrap();
    for id in ["t0", "t1", "t2", "t3"] {
        let task = Task::new("mail.send").queue("mail").id(id).max_retries(0);
        client.enqueue(task).await.unwrap();
    }
    let leased = client
        .lease(LeaseOptions {
            max_tasks: 3,
            wait: SOON,
            ..LeaseOptions::new(["mail"])
        })
        .await
        .unwrap();
    let ids: Vec<&str> = leased.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t0", "t1", "t2"], "leased in enqueue order");
    for task in &leased[..2] {
        client.ack_success(task, "ok", "text/plain").await.unwrap();
    }
    let state = client
        .ack_failure(
            &leased[2],
            "SmtpError",
            "550 mailbox unavailable",
            false,
            None,
        )
        .await
        .unwrap();
    assert_eq!(state, TaskState::Failed, "no retries left");

    // The App fed as the runner feeds it: the event stream (from the first event, so none
    // is missed) and a snapshot.
    let now = Instant::now();
    let mut app = App::new(SPAN, now);
    let conn = ConnArgs {
        addr: broker.url(),
        token: None,
        ca_cert: None,
    };
    let mut follow = Follow::new(conn, feed::event_query(&[], Some(0)));
    let replayed = tokio::time::timeout(SOON, async {
        while app.failure_rows().is_empty() {
            if let Followed::Event(event) = follow.next().await.unwrap() {
                app.apply_event(&event, now);
            }
        }
    })
    .await;
    assert!(replayed.is_ok(), "task-failed never arrived");
    let snapshot = wait_until(
        SOON,
        || async { feed::snapshot(&client, &[]).await.unwrap() },
        |s| !s.workers.is_empty(),
    )
    .await
    .expect("the worker is listed");
    app.apply_snapshot(snapshot, now);

    let shown = screen(&app, now);
    let mail = row(&shown, "mail");
    // QUEUE READY SCHED LEASED RETRY DEAD IN/s OUT/s …
    assert_eq!(mail[1], "1", "t3 is ready: {mail:?}");
    assert_eq!(mail[5], "1", "t2 is a dead letter: {mail:?}");
    assert_eq!(mail[6], "4.0", "4 sent within the first second: {mail:?}");
    assert_eq!(mail[7], "3.0", "2 succeeded and 1 failed: {mail:?}");
    let worker = row(&shown, "w-top");
    assert_eq!(worker[3], "0", "the worker runs nothing: {worker:?}");
    assert!(
        shows(&shown, "SmtpError: 550 mailbox unavailable"),
        "{}",
        shown.join("\n")
    );

    // Tab twice to the failures, Enter: the runner would ask the broker about t2.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    let command = press(&mut app, KeyCode::Enter);
    assert_eq!(command, Some(Command::Open("t2".into())));
    assert!(shows(&screen(&app, now), "asking the broker"));
    app.show_detail(feed::task_detail(&client, "t2").await);
    let shown = screen(&app, now);
    assert!(shows(&shown, "t2 is FAILED"), "{}", shown.join("\n"));
    assert!(shows(&shown, "task-failed"), "{}", shown.join("\n"));
    press(&mut app, KeyCode::Esc);
    assert!(!shows(&screen(&app, now), "t2 is FAILED"), "Esc closes it");
}

/// An app whose snapshot lists `queues` as (name, ready, dead).
fn app_with(queues: &[(&str, u64, u64)], now: Instant) -> App {
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
fn failed(id: &str, queue: &str, message: &str) -> Event {
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
