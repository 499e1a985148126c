//! Worker sessions (`Workers.Session`): credits bound what is pushed, acks flow on the stream,
//! and a session that ends gives its leases back at once.

use std::time::Duration;

use stalk_client::{LeaseOptions, Task, TaskState};
use stalk_proto::v1 as pb;
use stalk_proto::v1::workers_client::WorkersClient;
use stalk_testkit::{wait_until, TestBroker};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::support::SOON;

/// A session opened with `hello`, with the sender for further worker messages.
pub(crate) struct Session {
    pub(crate) to_broker: mpsc::Sender<pb::WorkerMessage>,
    pub(crate) from_broker: tonic::Streaming<pb::BrokerMessage>,
}

pub(crate) fn msg(kind: pb::worker_message::Kind) -> pb::WorkerMessage {
    pb::WorkerMessage { kind: Some(kind) }
}

pub(crate) async fn open(broker: &TestBroker, queues: &[&str]) -> Session {
    open_as(broker, "worker-1", queues).await
}

pub(crate) async fn open_as(broker: &TestBroker, worker_id: &str, queues: &[&str]) -> Session {
    open_at(broker.url(), worker_id, queues).await
}

/// Opens a session as `worker_id` with the broker at `url`.
pub(crate) async fn open_at(url: String, worker_id: &str, queues: &[&str]) -> Session {
    let mut client = WorkersClient::connect(url).await.unwrap();
    let (to_broker, rx) = mpsc::channel(16);
    let hello = pb::Hello {
        worker_id: worker_id.into(),
        queues: queues.iter().map(|q| q.to_string()).collect(),
        ..pb::Hello::default()
    };
    to_broker
        .send(msg(pb::worker_message::Kind::Hello(hello)))
        .await
        .unwrap();
    let mut from_broker = client
        .session(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = from_broker.message().await.unwrap().expect("welcome");
    assert!(
        matches!(first.kind, Some(pb::broker_message::Kind::Welcome(_))),
        "{first:?}"
    );
    Session {
        to_broker,
        from_broker,
    }
}

impl Session {
    /// Acks `tasks` as succeeded, in one message.
    pub(crate) async fn ack(&self, tasks: &[pb::LeasedTask]) {
        let acks = pb::AckManyRequest {
            acks: tasks
                .iter()
                .map(|t| pb::AckRequest {
                    add: Vec::new(),
                    task_id: t.task_id.clone(),
                    lease_id: t.lease_id,
                    outcome: Some(pb::ack_request::Outcome::Success(pb::TaskResult::default())),
                })
                .collect(),
        };
        self.to_broker
            .send(msg(pb::worker_message::Kind::Acks(acks)))
            .await
            .unwrap();
    }

    pub(crate) async fn credit(&self, tasks: u32) {
        let credit = pb::worker_message::Kind::Credit(pb::Credit { tasks });
        self.to_broker.send(msg(credit)).await.unwrap();
    }

    pub(crate) async fn next(&mut self) -> pb::BrokerMessage {
        tokio::time::timeout(SOON, self.from_broker.message())
            .await
            .expect("the broker answers")
            .unwrap()
            .expect("the stream is open")
    }

    pub(crate) async fn tasks(&mut self, n: usize) -> Vec<pb::LeasedTask> {
        let mut tasks = Vec::new();
        while tasks.len() < n {
            match self.next().await.kind {
                Some(pb::broker_message::Kind::Tasks(batch)) => tasks.extend(batch.tasks),
                other => panic!("expected tasks, got {other:?}"),
            }
        }
        tasks
    }
}

pub(crate) async fn counts(broker: &TestBroker, queue: &str) -> (u64, u64) {
    let client = broker.client().await;
    let stats = client.queue_stats(&[queue]).await.unwrap();
    stats.first().map_or((0, 0), |s| (s.ready, s.leased))
}

#[tokio::test]
async fn the_broker_pushes_no_more_tasks_than_the_credits_granted() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for i in 0..5 {
        client
            .enqueue(Task::new("t").queue("q").id(format!("t{i}")))
            .await
            .unwrap();
    }
    let mut session = open(&broker, &["q"]).await;
    session.credit(2).await;
    let pushed = session.tasks(2).await;
    assert_eq!(
        pushed
            .iter()
            .map(|t| t.task_id.as_str())
            .collect::<Vec<_>>(),
        ["t0", "t1"]
    );
    let held = wait_until(SOON, || counts(&broker, "q"), |c| *c == (3, 2)).await;
    assert_eq!(
        held,
        Ok((3, 2)),
        "two pushed under lease, three still ready"
    );

    session.ack(&pushed).await;
    let Some(pb::broker_message::Kind::Acked(acked)) = session.next().await.kind else {
        panic!("expected the ack results");
    };
    assert!(acked.results.iter().all(|r| r.error.is_none()), "{acked:?}");
    assert_eq!(
        client.result("t0", None).await.unwrap().state,
        TaskState::Succeeded
    );

    session.credit(1).await;
    assert_eq!(
        session.tasks(1).await[0].task_id,
        "t2",
        "one more credit, one more task"
    );
}

#[tokio::test]
async fn a_task_enqueued_later_is_pushed_as_soon_as_it_is_ready() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    let mut session = open(&broker, &["q"]).await;
    session.credit(1).await;
    let id = client.enqueue(Task::new("t").queue("q")).await.unwrap().id;
    assert_eq!(session.tasks(1).await[0].task_id, id);
}

#[tokio::test]
async fn a_closed_session_releases_its_leases_at_once() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("unstarted"))
        .await
        .unwrap();
    client
        .enqueue(Task::new("t").queue("q").id("running"))
        .await
        .unwrap();
    let mut session = open(&broker, &["q"]).await;
    session.credit(2).await;
    let pushed = session.tasks(2).await;
    let running = pushed.iter().find(|t| t.task_id == "running").unwrap();
    let started = pb::Started {
        tasks: vec![pb::StartedTask {
            task_id: running.task_id.clone(),
            lease_id: running.lease_id,
        }],
    };
    session
        .to_broker
        .send(msg(pb::worker_message::Kind::Started(started)))
        .await
        .unwrap();
    // The broker must have seen `started` before the stream ends: the running lease now runs
    // for the task's full 30 s lease, so its deadline moved past the 10 s prefetch lease.
    let moved = wait_until(
        SOON,
        || async {
            client
                .list_tasks("q", TaskState::Leased, 10, None)
                .await
                .unwrap()
                .0
        },
        |tasks| {
            tasks.iter().any(|t| {
                t.id == "running"
                    && t.due_at
                        .is_some_and(|d| d > std::time::SystemTime::now() + Duration::from_secs(15))
            })
        },
    )
    .await;
    assert!(moved.is_ok(), "started extends the lease: {moved:?}");

    // A clean close: the worker ends its side and the broker ends the stream.
    let Session {
        to_broker,
        mut from_broker,
    } = session;
    drop(to_broker);
    while let Ok(Some(_)) = from_broker.message().await {}
    let released = wait_until(SOON, || counts(&broker, "q"), |c| *c == (2, 0)).await;
    assert_eq!(
        released,
        Ok((2, 0)),
        "both tasks are ready again well before any lease ends"
    );
    let again = client
        .lease(LeaseOptions {
            max_tasks: 2,
            ..LeaseOptions::new(["q"])
        })
        .await
        .unwrap();
    let attempt = |id: &str| again.iter().find(|t| t.id == id).map(|t| t.attempt);
    assert_eq!(
        attempt("unstarted"),
        Some(1),
        "a task that never started used no attempt"
    );
    assert_eq!(
        attempt("running"),
        Some(2),
        "the interrupted run counts as an attempt"
    );
}

#[tokio::test]
async fn a_session_must_start_with_hello() {
    let broker = TestBroker::start().await;
    let mut client = WorkersClient::connect(broker.url()).await.unwrap();
    let (tx, rx) = mpsc::channel(4);
    tx.send(msg(pb::worker_message::Kind::Credit(pb::Credit {
        tasks: 1,
    })))
    .await
    .unwrap();
    let err = client.session(ReceiverStream::new(rx)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("hello"), "{}", err.message());
}

impl Session {
    pub(crate) async fn start(&self, task: &pb::LeasedTask) {
        let started = pb::Started {
            tasks: vec![pb::StartedTask {
                task_id: task.task_id.clone(),
                lease_id: task.lease_id,
            }],
        };
        self.to_broker
            .send(msg(pb::worker_message::Kind::Started(started)))
            .await
            .unwrap();
    }

    /// Ends the stream without `goodbye`, as a crash or a cut connection would.
    pub(crate) fn break_off(self) {
        drop(self.from_broker);
    }
}

async fn workers(broker: &TestBroker) -> Vec<pb::WorkerInfo> {
    let mut admin = stalk_proto::v1::admin_client::AdminClient::connect(broker.url())
        .await
        .unwrap();
    admin
        .list_workers(pb::ListWorkersRequest {})
        .await
        .unwrap()
        .into_inner()
        .workers
}

#[tokio::test]
async fn connected_workers_are_listed_with_what_they_run() {
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("busy"))
        .await
        .unwrap();
    let mut session = open_as(&broker, "lister", &["q"]).await;
    session.credit(1).await;
    let task = session.tasks(1).await.remove(0);
    session.start(&task).await;
    let listed = wait_until(
        SOON,
        || workers(&broker),
        |w| w.len() == 1 && w[0].tasks.first().is_some_and(|t| t.started),
    )
    .await
    .expect("the worker is listed with its running task");
    let worker = &listed[0];
    assert_eq!(worker.worker_id, "lister");
    assert_eq!(worker.queues, ["q"]);
    assert_eq!(worker.tasks[0].task_id, "busy");
    assert!(worker.last_seen_unix_ms >= worker.connected_at_unix_ms);

    let Session {
        to_broker,
        mut from_broker,
    } = session;
    to_broker
        .send(msg(pb::worker_message::Kind::Goodbye(pb::Goodbye {})))
        .await
        .unwrap();
    while let Ok(Some(_)) = from_broker.message().await {}
    let gone = wait_until(SOON, || workers(&broker), |w| w.is_empty()).await;
    assert!(
        gone.is_ok(),
        "a closed session is no longer listed: {gone:?}"
    );
}
