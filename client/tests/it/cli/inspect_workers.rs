//! `stalk inspect active|reserved|registered|stats` against a worker that speaks the session
//! protocol by hand: one task it started, one waiting in its buffer, and its task names.

use stalk_client::proto as pb;
use stalk_client::Task;
use stalk_testkit::{wait_until, TestBroker};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::support::{Stalk, SOON};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_shows_what_each_worker_runs_holds_and_knows() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for id in ["first", "second"] {
        client
            .enqueue(Task::new("mail.send").queue("q").id(id))
            .await
            .unwrap();
    }
    let (to_broker, outbound) = mpsc::channel(16);
    let send = |kind| pb::WorkerMessage { kind: Some(kind) };
    let hello = pb::Hello {
        worker_id: "w-inspect".into(),
        queues: vec!["q".into()],
        task_names: vec!["mail.send".into(), "mail.bounce".into()],
        ..pb::Hello::default()
    };
    to_broker
        .send(send(pb::worker_message::Kind::Hello(hello)))
        .await
        .unwrap();
    to_broker
        .send(send(pb::worker_message::Kind::Credit(pb::Credit {
            tasks: 2,
        })))
        .await
        .unwrap();
    let mut inbound = pb::workers_client::WorkersClient::new(client.channel())
        .session(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    let mut pushed = Vec::new();
    while pushed.len() < 2 {
        let message = tokio::time::timeout(SOON, inbound.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(pb::broker_message::Kind::Tasks(tasks)) = message.kind {
            pushed.extend(tasks.tasks);
        }
    }
    let first = pushed.iter().find(|t| t.task_id == "first").unwrap();
    let started = pb::Started {
        tasks: vec![pb::StartedTask {
            task_id: first.task_id.clone(),
            lease_id: first.lease_id,
        }],
    };
    to_broker
        .send(send(pb::worker_message::Kind::Started(started)))
        .await
        .unwrap();
    let running = wait_until(
        SOON,
        || async { client.list_workers().await.unwrap()[0].running.len() },
        |n| *n == 1,
    )
    .await;
    assert_eq!(running, Ok(1));

    let stalk = Stalk::for_broker(&broker);
    let run = stalk.ok(&["inspect", "active"]).await;
    assert_eq!(run.stdout, "WORKER     TASK\nw-inspect  first\n", "{run}");
    let run = stalk
        .ok(&["inspect", "reserved", "--worker", "w-inspect"])
        .await;
    assert_eq!(run.stdout, "WORKER     TASK\nw-inspect  second\n", "{run}");
    let run = stalk.ok(&["--json", "inspect", "registered"]).await;
    assert_eq!(
        run.json(),
        serde_json::json!([{"worker_id": "w-inspect", "registered": ["mail.send", "mail.bounce"]}])
    );
    let doc = stalk.ok(&["--json", "inspect", "stats"]).await.json();
    assert_eq!(
        (
            &doc[0]["running"],
            &doc[0]["reserved"],
            &doc[0]["processed"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(0)
        ),
        "{doc}"
    );
    let run = stalk.ok(&["inspect", "active", "--worker", "nobody"]).await;
    assert_eq!(run.stdout, "WORKER  TASK\n", "{run}");
    stalk.expect(2, &["inspect", "everything"]).await;
    drop(to_broker);
}
