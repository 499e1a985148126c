//! A broker whose disk filled while it served recovers by itself once space is freed (issue 12,
//! §1): the same `stalkd` process, never restarted, turns health back to SERVING, takes writes
//! again, and still has every task it acknowledged, in the state it acknowledged. Worker
//! sessions open across the failure end, and their workers reconnect and go on working.
//!
//! The disk fills under sled (`--min-free-space 0`), so the refusals come from a real ENOSPC.
//! On a small tmpfs, as root; elsewhere the tests print why and pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use stalk_client::{Client, Task, TaskState};
use stalk_proto::v1 as pb;
use stalk_testkit::wait_until;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::disk_full::{connect, fill, Tmpfs, LARGE, MEDIUM};
use crate::session::{open_at, Session};
use crate::support::{enqueue, lease, Stalkd, SOON};

/// How long the broker may take to notice the freed space and reopen its store: it looks every
/// second; generous, so a slow machine fails nothing.
const RECOVERY: Duration = Duration::from_secs(60);
/// Space taken next to the data directory before filling the disk, and freed to let the broker
/// recover: a good part of the tmpfs, so the reopened store has room to write.
const FILLER_BYTES: usize = 3 << 20;

/// Takes `FILLER_BYTES` next to the data directory; remove the file to free them.
fn take_space(tmpfs: &Tmpfs) -> PathBuf {
    let path = tmpfs.data_dir().with_file_name("filler");
    std::fs::write(&path, vec![5u8; FILLER_BYTES]).unwrap();
    path
}

/// The broker's overall health; `None` when it does not answer.
async fn health(client: &Client) -> Option<ServingStatus> {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let answer = HealthClient::new(client.channel()).check(request).await;
    answer.ok().map(|a| a.into_inner().status())
}

/// Fills the disk with tasks of `payload_bytes` until an enqueue fails on a real ENOSPC;
/// returns the enqueues acknowledged.
async fn fill_until_full(client: &Client, payload_bytes: usize) -> Vec<String> {
    let (acked, refusal) = fill(client, payload_bytes).await;
    assert_eq!(refusal.code(), Some(Code::ResourceExhausted), "{refusal}");
    assert!(
        refusal.to_string().contains("is full"),
        "a full disk, not the watermark: {refusal}"
    );
    let unhealthy = wait_until(
        SOON,
        || health(client),
        |s| *s == Some(ServingStatus::NotServing),
    )
    .await;
    assert_eq!(unhealthy, Ok(Some(ServingStatus::NotServing)));
    acked
}

/// Frees the filler and waits, without restarting anything, for the broker to serve again.
async fn free_and_wait_for_recovery(client: &Client, filler: &Path) {
    std::fs::remove_file(filler).unwrap();
    let healthy = wait_until(
        RECOVERY,
        || health(client),
        |s| *s == Some(ServingStatus::Serving),
    )
    .await;
    assert_eq!(
        healthy,
        Ok(Some(ServingStatus::Serving)),
        "health back to SERVING once space is free, without a restart"
    );
}

/// Leases and acks every task of `queue`; returns their ids.
async fn drain(client: &Client, queue: &str) -> BTreeSet<String> {
    let mut drained = BTreeSet::new();
    loop {
        let leased = lease(client, queue, 50).await;
        if leased.is_empty() {
            return drained;
        }
        for task in &leased {
            client
                .ack_success(task, &b"drained"[..], "text/plain")
                .await
                .expect("an ack after the recovery");
            drained.insert(task.id.clone());
        }
    }
}

#[tokio::test]
async fn a_disk_the_log_filled_is_recovered_without_a_restart_with_every_acked_task() {
    recovers_with_every_acked_task(MEDIUM).await;
}

/// A blob write cut short by the full disk leaves sled unable to close the store (its flush
/// waits forever); the broker recovers all the same.
#[tokio::test]
async fn a_disk_a_blob_filled_is_recovered_without_a_restart_with_every_acked_task() {
    recovers_with_every_acked_task(LARGE).await;
}

/// Acks and enqueues, fills the disk with tasks of `payload_bytes`, frees space, and checks
/// that the same broker serves again with every acknowledged task in its state, and drains.
async fn recovers_with_every_acked_task(payload_bytes: usize) {
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let stalkd = Stalkd::start(&tmpfs.data_dir(), &["--min-free-space", "0"]);
    let client = connect(&stalkd).await;

    // Before the disk fills: tasks waiting, and tasks run and acked.
    let mut expected = BTreeMap::new();
    for _ in 0..20 {
        expected.insert(enqueue(&client, "kept", "kept").await, TaskState::Ready);
    }
    for task in lease(&client, "kept", 8).await {
        let state = client
            .ack_success(&task, &b"done"[..], "text/plain")
            .await
            .expect("an ack before the disk filled");
        assert_eq!(state, TaskState::Succeeded);
        expected.insert(task.id, TaskState::Succeeded);
    }

    let filler = take_space(&tmpfs);
    let filled = fill_until_full(&client, payload_bytes).await;
    assert!(!filled.is_empty(), "some tasks fit before the disk filled");
    let refused = client.enqueue(Task::new("refused").queue("kept")).await;
    assert!(
        refused.is_err(),
        "writes are refused while the disk is full"
    );

    free_and_wait_for_recovery(&client, &filler).await;
    let after = client
        .enqueue(Task::new("after").queue("kept"))
        .await
        .expect("an enqueue once the broker recovered");
    expected.insert(after.id, TaskState::Ready);

    for (id, state) in &expected {
        let status = client.result(id, None).await.expect("a task's status");
        assert_eq!(status.state, *state, "task {id} after the recovery");
        if *state == TaskState::Succeeded {
            let value = status.result.expect("a succeeded task keeps its result");
            assert_eq!(&value.value[..], b"done", "task {id}'s result");
        }
    }
    let ready: BTreeSet<String> = expected
        .iter()
        .filter(|(_, state)| **state == TaskState::Ready)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        drain(&client, "kept").await,
        ready,
        "every waiting task, and only those, runs after the recovery"
    );
    // An enqueue that failed may still have reached the disk; every acknowledged one did.
    let drained = drain(&client, "fill").await;
    let lost: Vec<_> = filled.iter().filter(|id| !drained.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged tasks lost: {lost:?}",
        lost.len()
    );
}

/// Reads the session's messages until `want` says it has seen enough of them.
async fn read_until(session: &mut Session, mut want: impl FnMut(pb::broker_message::Kind) -> bool) {
    loop {
        let kind = session.next().await.kind.expect("a message kind");
        if want(kind) {
            return;
        }
    }
}

#[tokio::test]
async fn a_worker_session_open_across_the_failure_ends_and_its_worker_reconnects_and_works() {
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let stalkd = Stalkd::start(&tmpfs.data_dir(), &["--min-free-space", "0"]);
    let client = connect(&stalkd).await;
    for id in ["job-1", "job-2"] {
        client
            .enqueue(Task::new("job").queue("work").id(id))
            .await
            .unwrap();
    }
    // A worker runs job-1 when the disk fills; with no credit left it asks for nothing more.
    let mut session = open_at(stalkd.url(), "worker-9", &["work"]).await;
    session.credit(1).await;
    let running = session.tasks(1).await.remove(0);
    session.start(&running).await;
    let started = wait_until(
        SOON,
        || async { client.result(&running.task_id, None).await.unwrap().state },
        |state| *state == TaskState::Running,
    )
    .await;
    assert_eq!(started, Ok(TaskState::Running));

    let filler = take_space(&tmpfs);
    fill_until_full(&client, MEDIUM).await;
    free_and_wait_for_recovery(&client, &filler).await;

    // The session ends: its lease ended with the store it was granted from.
    let ended = tokio::time::timeout(RECOVERY, session.from_broker.message())
        .await
        .expect("the session ends after the recovery");
    let status = ended.expect_err("the session ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("reopened"), "{status:?}");

    // The worker reconnects, as the SDK does, and reports the task it still runs: the broker
    // tells it to stop (the task is READY again, as after a restart), then pushes both jobs.
    let mut again = open_at(stalkd.url(), "worker-9", &["work"]).await;
    again.start(&running).await;
    read_until(&mut again, |kind| match kind {
        pb::broker_message::Kind::Stop(stop) => {
            assert_eq!(stop.tasks.len(), 1, "{stop:?}");
            assert_eq!(stop.tasks[0].lease_id, running.lease_id, "{stop:?}");
            true
        }
        other => panic!("expected the running task stopped, got {other:?}"),
    })
    .await;
    again.credit(2).await;
    let pushed = again.tasks(2).await;
    let ids: BTreeSet<&str> = pushed.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["job-1", "job-2"]));
    again.ack(&pushed).await;
    for id in ["job-1", "job-2"] {
        let done = wait_until(
            SOON,
            || async { client.result(id, None).await.unwrap().state },
            |state| *state == TaskState::Succeeded,
        )
        .await;
        assert_eq!(
            done,
            Ok(TaskState::Succeeded),
            "{id}, acked on the new session"
        );
    }
}
