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
struct Session {
    to_broker: mpsc::Sender<pb::WorkerMessage>,
    from_broker: tonic::Streaming<pb::BrokerMessage>,
}

fn msg(kind: pb::worker_message::Kind) -> pb::WorkerMessage {
    pb::WorkerMessage { kind: Some(kind) }
}

async fn open(broker: &TestBroker, queues: &[&str]) -> Session {
    open_as(broker, "worker-1", queues).await
}

async fn open_as(broker: &TestBroker, worker_id: &str, queues: &[&str]) -> Session {
    let mut client = WorkersClient::connect(broker.url()).await.unwrap();
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
    async fn ack(&self, tasks: &[pb::LeasedTask]) {
        let acks = pb::AckManyRequest {
            acks: tasks
                .iter()
                .map(|t| pb::AckRequest {
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

    async fn credit(&self, tasks: u32) {
        let credit = pb::worker_message::Kind::Credit(pb::Credit { tasks });
        self.to_broker.send(msg(credit)).await.unwrap();
    }

    async fn next(&mut self) -> pb::BrokerMessage {
        tokio::time::timeout(SOON, self.from_broker.message())
            .await
            .expect("the broker answers")
            .unwrap()
            .expect("the stream is open")
    }

    async fn tasks(&mut self, n: usize) -> Vec<pb::LeasedTask> {
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

async fn counts(broker: &TestBroker, queue: &str) -> (u64, u64) {
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
    async fn start(&self, task: &pb::LeasedTask) {
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
    fn break_off(self) {
        drop(self.from_broker);
    }
}

/// Waits until the broker's own clock has passed `ms`, by watching a task with that countdown.
async fn let_broker_time_pass(broker: &TestBroker, ms: u64) {
    let client = broker.client().await;
    let marker = client
        .enqueue(
            Task::new("marker")
                .queue("clock")
                .countdown(Duration::from_millis(ms)),
        )
        .await
        .unwrap();
    let due = wait_until(
        SOON,
        || async { client.result(&marker.id, None).await.unwrap().state },
        |s| *s == TaskState::Ready,
    )
    .await;
    assert_eq!(due, Ok(TaskState::Ready));
}

#[tokio::test]
async fn a_worker_that_reconnects_within_the_grace_keeps_its_running_tasks() {
    let grace = Duration::from_millis(300);
    let broker = TestBroker::start_with(|c| {
        c.session_grace = stalk_broker::config::SessionGrace::After(grace)
    })
    .await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("long"))
        .await
        .unwrap();
    let mut first = open_as(&broker, "worker-7", &["q"]).await;
    first.credit(1).await;
    let task = first.tasks(1).await.remove(0);
    first.start(&task).await;
    let running = wait_until(SOON, || counts(&broker, "q"), |c| *c == (0, 1)).await;
    assert_eq!(running, Ok((0, 1)));
    first.break_off();
    // Reconnecting after the broker noticed the break (a reconnect that races the old stream's
    // end is not adopted yet: its leases are released after the grace).
    let closed = wait_until(
        SOON,
        || async { broker.sessions().open_sessions() },
        |n| *n == 0,
    )
    .await;
    assert_eq!(closed, Ok(0));

    let second = open_as(&broker, "worker-7", &["q"]).await;
    let_broker_time_pass(&broker, 600).await;
    assert_eq!(
        counts(&broker, "q").await,
        (0, 1),
        "the reconnected worker still holds the task"
    );
    second.ack(std::slice::from_ref(&task)).await;
    let done = wait_until(
        SOON,
        || async { client.result("long", None).await.unwrap().state },
        |s| *s == TaskState::Succeeded,
    )
    .await;
    assert_eq!(
        done,
        Ok(TaskState::Succeeded),
        "the old lease was acked through the new session"
    );
}

#[tokio::test]
async fn a_broken_session_releases_its_running_tasks_after_the_grace() {
    let grace = Duration::from_millis(200);
    let broker = TestBroker::start_with(|c| {
        c.session_grace = stalk_broker::config::SessionGrace::After(grace)
    })
    .await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("orphan"))
        .await
        .unwrap();
    let mut session = open(&broker, &["q"]).await;
    session.credit(1).await;
    let task = session.tasks(1).await.remove(0);
    session.start(&task).await;
    let running = wait_until(SOON, || counts(&broker, "q"), |c| *c == (0, 1)).await;
    assert_eq!(running, Ok((0, 1)));
    session.break_off();
    let released = wait_until(SOON, || counts(&broker, "q"), |c| *c == (1, 0)).await;
    assert_eq!(
        released,
        Ok((1, 0)),
        "released after the grace, long before the 30 s lease ends"
    );
    let again = client.lease(LeaseOptions::new(["q"])).await.unwrap();
    assert_eq!(again[0].attempt, 2, "the lost run counts as an attempt");
}

#[tokio::test]
async fn a_reconnect_that_races_the_old_stream_takes_back_the_tasks_it_reports() {
    let grace = Duration::from_millis(300);
    let broker = TestBroker::start_with(|c| {
        c.session_grace = stalk_broker::config::SessionGrace::After(grace)
    })
    .await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("raced"))
        .await
        .unwrap();
    let mut first = open_as(&broker, "worker-9", &["q"]).await;
    first.credit(1).await;
    let task = first.tasks(1).await.remove(0);
    first.start(&task).await;
    let running = wait_until(SOON, || counts(&broker, "q"), |c| *c == (0, 1)).await;
    assert_eq!(running, Ok((0, 1)));
    // The new session opens before the broker has seen the old stream end.
    let second = open_as(&broker, "worker-9", &["q"]).await;
    first.break_off();
    let old_closed = wait_until(
        SOON,
        || async { broker.sessions().open_sessions() },
        |n| *n == 1,
    )
    .await;
    assert_eq!(old_closed, Ok(1));
    // Reporting the running task on the new session takes its lease back.
    second.start(&task).await;
    let_broker_time_pass(&broker, 600).await;
    assert_eq!(
        counts(&broker, "q").await,
        (0, 1),
        "the task was not released after the grace"
    );
    second.ack(std::slice::from_ref(&task)).await;
    let done = wait_until(
        SOON,
        || async { client.result("raced", None).await.unwrap().state },
        |s| *s == TaskState::Succeeded,
    )
    .await;
    assert_eq!(done, Ok(TaskState::Succeeded));
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

#[tokio::test]
async fn a_silent_session_is_ended_and_its_running_tasks_released() {
    let broker = TestBroker::start_with(|c| {
        c.worker_silence = Duration::from_millis(300);
        c.session_grace = stalk_broker::config::SessionGrace::After(Duration::ZERO);
    })
    .await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").queue("q").id("quiet"))
        .await
        .unwrap();
    let mut session = open(&broker, &["q"]).await;
    session.credit(1).await;
    let task = session.tasks(1).await.remove(0);
    session.start(&task).await;
    // The worker now says nothing: the broker ends the session and releases the task.
    let released = wait_until(SOON, || counts(&broker, "q"), |c| *c == (1, 0)).await;
    assert_eq!(released, Ok((1, 0)));
    let end = tokio::time::timeout(SOON, session.from_broker.message())
        .await
        .expect("the stream ends");
    let status = end.expect_err("the broker ends the stream with an error");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
}
