//! `stalk control ping|shutdown` against a worker that speaks the session protocol by hand:
//! the command reaches the worker through the broker and its answer comes back.

use std::time::Duration;

use stalk_client::proto as pb;
use stalk_testkit::{wait_until, TestBroker};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::support::Stalk;

/// Opens a session as worker `id` and answers every control command `ok`, with a `pid` detail;
/// returns the commands it saw.
async fn fake_worker(broker: &TestBroker, id: &str) -> mpsc::UnboundedReceiver<String> {
    let channel = broker.client().await.channel();
    let (to_broker, outbound) = mpsc::channel(16);
    let hello = pb::Hello {
        worker_id: id.into(),
        queues: vec!["q".into()],
        ..pb::Hello::default()
    };
    to_broker
        .send(pb::WorkerMessage {
            kind: Some(pb::worker_message::Kind::Hello(hello)),
        })
        .await
        .unwrap();
    let mut inbound = pb::workers_client::WorkersClient::new(channel)
        .session(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(message)) = inbound.message().await {
            let Some(pb::broker_message::Kind::Control(request)) = message.kind else {
                continue;
            };
            let (name, answer) = match request.command.and_then(|c| c.kind) {
                Some(pb::worker_command::Kind::Ping(_)) => ("ping", "pong"),
                Some(pb::worker_command::Kind::Shutdown(_)) => ("shutdown", "shutting down warm"),
                None => ("?", "?"),
            };
            let _ = seen_tx.send(name.to_string());
            let reply = pb::ControlReply {
                request_id: request.request_id,
                ok: true,
                message: answer.into(),
                details: [("pid".to_string(), "4242".to_string())].into(),
            };
            let sent = to_broker
                .send(pb::WorkerMessage {
                    kind: Some(pb::worker_message::Kind::ControlReply(reply)),
                })
                .await;
            if sent.is_err() {
                return;
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_shows_each_workers_answer_and_names_the_silent_ones() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let run = stalk.expect(1, &["control", "ping"]).await;
    run.one_line_error().stderr_has("no worker is connected");

    let mut seen = fake_worker(&broker, "w1").await;
    let client = broker.client().await;
    let listed = wait_until(
        Duration::from_secs(10),
        || async { client.list_workers().await.unwrap() },
        |w| w.len() == 1,
    )
    .await;
    assert!(listed.is_ok(), "{listed:?}");
    let run = stalk.ok(&["control", "ping"]).await;
    run.stdout_has("w1")
        .stdout_has("pong")
        .stdout_has("pid=4242");
    assert_eq!(seen.recv().await.as_deref(), Some("ping"));

    let run = stalk
        .expect(1, &["--json", "control", "ping", "w1", "ghost"])
        .await;
    let replies = run.json();
    assert_eq!(replies[0]["worker_id"], "ghost", "{run}");
    assert_eq!(replies[0]["ok"], false);
    assert_eq!(replies[0]["message"], "not connected to this broker");
    assert_eq!(replies[1]["worker_id"], "w1");
    assert_eq!(replies[1]["ok"], true);
    assert_eq!(replies[1]["details"]["pid"], "4242");
    run.stderr_has("no answer from worker ghost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_needs_workers_or_all_and_reaches_them() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    stalk.expect(2, &["control", "shutdown"]).await;
    let mut seen = fake_worker(&broker, "w1").await;
    let client = broker.client().await;
    let listed = wait_until(
        Duration::from_secs(10),
        || async { client.list_workers().await.unwrap() },
        |w| w.len() == 1,
    )
    .await;
    assert!(listed.is_ok(), "{listed:?}");
    let run = stalk.ok(&["control", "shutdown", "--all"]).await;
    run.stdout_has("shutting down warm");
    assert_eq!(seen.recv().await.as_deref(), Some("shutdown"));
}
