//! The real Prometheus tools read both endpoints (issue 13): `promtool check metrics` finds no
//! problem in the broker's or the worker's exposition, and a Prometheus server scrapes both.
//! `.ci/run` installs Debian's `prometheus` package; elsewhere these tests say they were skipped
//! when it is missing, and under CI they fail instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use stalk_client::{Task, TaskState};
use stalk_testkit::{http_get, wait_until, TestBroker};
use stalk_worker::{TaskError, Worker};
use tokio::io::AsyncWriteExt;

use crate::support::{finish, run_in_background, Running};

/// The installed tool `name`, or `None` (skip) outside CI.
fn tool(name: &str) -> Option<PathBuf> {
    stalk_testkit::system_tool(name, "prometheus")
}

/// A worker that serves metrics, and three tasks it ran: the broker's address, the worker's,
/// and the running worker (it stops when dropped).
async fn both_endpoints(broker: &TestBroker) -> (SocketAddr, SocketAddr, Running) {
    let worker = Worker::builder(broker.url())
        .worker_id("prom-worker")
        .metrics_listen("127.0.0.1:0")
        .task("ok", |(): ()| async move { Ok::<_, TaskError>(()) })
        .connect()
        .await
        .expect("the worker connects");
    let worker_addr = worker.metrics_addr().expect("the worker serves metrics");
    let running = run_in_background(worker);
    let client = broker.client().await;
    for _ in 0..3 {
        let status = finish(&client, Task::new("ok").json(&()).unwrap()).await;
        assert_eq!(status.state, TaskState::Succeeded);
    }
    let broker_addr = broker.metrics_addr().expect("the broker serves metrics");
    (broker_addr, worker_addr, running)
}

#[tokio::test]
async fn promtool_finds_no_problem_in_either_exposition() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let broker = TestBroker::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".into())).await;
    let (broker_addr, worker_addr, _worker) = both_endpoints(&broker).await;
    for addr in [broker_addr, worker_addr] {
        let (_, text) = http_get(addr, "/metrics").await.unwrap();
        let mut check = tokio::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = check.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
        drop(stdin);
        let out = check.wait_with_output().await.unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{addr}: {said}\n{text}"
        );
    }
}

#[tokio::test]
async fn a_prometheus_server_scrapes_the_broker_and_the_worker() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let broker = TestBroker::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".into())).await;
    let (broker_addr, worker_addr, _worker) = both_endpoints(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  \
         - job_name: stalkd\n    static_configs:\n      - targets: ['{broker_addr}']\n  \
         - job_name: worker\n    static_configs:\n      - targets: ['{worker_addr}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    // A free port for its web API: bound, then released for Prometheus to take.
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _server = tokio::process::Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let query = |q: &'static str| async move {
        // Not answering yet (it is starting) reads as no result.
        http_get(web, &format!("/api/v1/query?query={q}"))
            .await
            .ok()
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    // Both targets up (its first scrape comes a few seconds after it starts).
    let up = wait_until(
        Duration::from_secs(60),
        || query("sum(up)"),
        |v| v["data"]["result"][0]["value"][1] == "2",
    )
    .await;
    assert!(up.is_ok(), "both targets are up: {up:?}");
    let done = wait_until(
        Duration::from_secs(30),
        || query("sum(stalk_tasks_succeeded_total)"),
        |v| v["data"]["result"][0]["value"][1] == "3",
    )
    .await;
    assert!(
        done.is_ok(),
        "the broker's counter reached Prometheus: {done:?}"
    );
    // sum(stalk_worker_tasks_total{outcome="succeeded"}), URL-encoded.
    let worker = query("sum(stalk_worker_tasks_total%7Boutcome%3D%22succeeded%22%7D)").await;
    assert_eq!(
        worker["data"]["result"][0]["value"][1], "3",
        "the worker's counter reached Prometheus: {worker}"
    );
}
