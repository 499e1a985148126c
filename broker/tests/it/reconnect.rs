//! A worker session that breaks: the same worker reconnecting within the grace keeps its
//! running tasks, one that does not (or goes silent) has them released.

use std::time::Duration;

use stalk_client::{LeaseOptions, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use tonic::Code;

use crate::session::{counts, open, open_as};
use crate::support::SOON;

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
