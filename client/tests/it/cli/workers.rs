//! `stalk control ping|shutdown|time-limit|custom|pool-shrink|…` against a worker that speaks
//! the session protocol by hand: the command reaches the worker through the broker as the user
//! typed it, and its answer comes back.

use std::time::Duration;

use stalk_client::proto as pb;
use stalk_testkit::{wait_until, TestBroker};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::support::Stalk;

/// A command as the fake worker saw it, in one line.
fn described(command: Option<pb::worker_command::Kind>) -> String {
    use pb::worker_command::Kind;
    match command {
        Some(Kind::Ping(_)) => "ping".into(),
        Some(Kind::Shutdown(_)) => "shutdown".into(),
        Some(Kind::TimeLimit(t)) => format!(
            "time_limit {} hard_ms={} soft_ms={}",
            t.task_name, t.hard_ms, t.soft_ms
        ),
        Some(Kind::AddConsumer(a)) => format!("add_consumer {}", a.queue),
        Some(Kind::CancelConsumer(c)) => format!("cancel_consumer {}", c.queue),
        Some(Kind::PoolGrow(g)) => format!("pool_grow {}", g.slots),
        Some(Kind::PoolShrink(s)) => format!("pool_shrink {}", s.slots),
        Some(Kind::Custom(c)) => {
            let mut args: Vec<String> = c.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            args.sort();
            format!("custom {} {}", c.name, args.join(","))
        }
        None => "?".into(),
    }
}

/// Opens a session as worker `id` and answers every control command `ok` (but a pool shrink,
/// which it refuses as a worker with one slot does), with a `pid` detail; returns, once the
/// broker lists the worker, the commands it sees.
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
            let seen = described(request.command.and_then(|c| c.kind));
            let (ok, answer) = match seen.split(' ').next() {
                Some("ping") => (true, "pong"),
                Some("shutdown") => (true, "shutting down warm"),
                Some("pool_shrink") => (false, "the pool is at its floor of 1 slot"),
                _ => (true, "done"),
            };
            let _ = seen_tx.send(seen);
            let reply = pb::ControlReply {
                request_id: request.request_id,
                ok,
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
    // Connected once the broker lists it: commands sent from then on reach it.
    let client = broker.client().await;
    let listed = wait_until(
        Duration::from_secs(10),
        || async { client.list_workers().await.unwrap() },
        |w| w.iter().any(|w| w.worker_id == id),
    )
    .await;
    assert!(listed.is_ok(), "{listed:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_shows_each_workers_answer_and_names_the_silent_ones() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let run = stalk.expect(1, &["control", "ping"]).await;
    run.one_line_error().stderr_has("no worker is connected");

    let mut seen = fake_worker(&broker, "w1").await;
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
    let run = stalk.ok(&["control", "shutdown", "--all"]).await;
    run.stdout_has("shutting down warm");
    assert_eq!(seen.recv().await.as_deref(), Some("shutdown"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_control_commands_reach_the_worker_as_typed_and_refusals_exit_1() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    let mut seen = fake_worker(&broker, "w1").await;

    let run = stalk
        .ok(&[
            "control",
            "time-limit",
            "email.send",
            "--hard",
            "2s",
            "--soft",
            "500ms",
            "--worker",
            "w1",
        ])
        .await;
    run.stdout_has("w1").stdout_has("done");
    assert_eq!(
        seen.recv().await.as_deref(),
        Some("time_limit email.send hard_ms=2000 soft_ms=500")
    );

    let run = stalk
        .ok(&[
            "--json", "control", "custom", "greet", "--arg", "who=ada", "--arg", "mood=a=b",
        ])
        .await;
    assert_eq!(run.json()[0]["ok"], true, "{run}");
    assert_eq!(
        seen.recv().await.as_deref(),
        Some("custom greet mood=a=b,who=ada"),
        "an argument's value may hold '='"
    );

    stalk.ok(&["control", "add-consumer", "mail"]).await;
    assert_eq!(seen.recv().await.as_deref(), Some("add_consumer mail"));
    stalk.ok(&["control", "pool-grow", "3"]).await;
    assert_eq!(seen.recv().await.as_deref(), Some("pool_grow 3"));

    let run = stalk.expect(1, &["control", "pool-shrink", "5"]).await;
    run.one_line_error()
        .stderr_has("worker w1: the pool is at its floor of 1 slot");
    assert_eq!(seen.recv().await.as_deref(), Some("pool_shrink 5"));

    let run = stalk.expect(1, &["control", "pool-grow", "0"]).await;
    run.one_line_error()
        .stderr_has("command.pool_grow.slots: 0 is outside 1..=1024");
    let run = stalk.expect(1, &["control", "cancel-consumer", ""]).await;
    run.stderr_has("cancel_consumer.queue: must not be empty");
    stalk
        .expect(2, &["control", "time-limit", "email.send"])
        .await;
    stalk
        .expect(2, &["control", "custom", "greet", "--arg", "novalue"])
        .await
        .stderr_has("invalid argument 'novalue'");
}
