//! A real broker (stalk-testkit) feeding the App as the runner does: the event stream from
//! its first event and a snapshot, then the failed task opened from the failures pane.

use std::time::Instant;

use ratatui::crossterm::event::KeyCode;
use stalk_client::proto as pb;
use stalk_client::{LeaseOptions, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{press, row, screen, shows, SOON, SPAN};
use crate::args::ConnArgs;
use crate::follow::{Follow, Followed};
use crate::top::feed;
use crate::top::input::Command;
use crate::top::model::App;

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
