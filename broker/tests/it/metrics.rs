//! Prometheus metrics (issue 13, first slice): `/metrics` on its own address, sampled from the
//! broker at scrape time and read back by parsing the exposition text.

use std::collections::HashMap;
use std::net::SocketAddr;

use stalk_client::Task;
use stalk_testkit::TestBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{lease, Stalkd};

/// GETs `path` from `addr` over plain HTTP/1.1: the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The samples of the exposition text, by series (`name{labels}`).
fn parse_samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn metrics_show_queue_depth_by_state_as_the_broker_holds_it() {
    let broker = TestBroker::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".into())).await;
    let addr = broker.metrics_addr().expect("metrics are served");
    let client = broker.client().await;
    for i in 0..3 {
        client
            .enqueue(Task::new("t").queue("mail").id(format!("m-{i}")))
            .await
            .unwrap();
    }
    let leased = lease(&client, "mail", 1).await;
    assert_eq!(leased.len(), 1);

    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let samples = parse_samples(&body);
    let depth =
        |state: &str| samples[&format!("stalk_queue_tasks{{queue=\"mail\",state=\"{state}\"}}")];
    assert_eq!(
        (
            depth("ready"),
            depth("leased"),
            depth("scheduled"),
            depth("dead")
        ),
        (2.0, 1.0, 0.0, 0.0),
        "{body}"
    );
    assert_eq!(samples["stalk_up"], 1.0);
    assert_eq!(samples["stalk_worker_sessions"], 0.0);
    assert!(samples["stalk_store_bytes"] > 0.0, "{body}");
    assert!(body.contains("# HELP stalk_queue_tasks"), "{body}");

    client
        .ack_success(&leased[0], b"1".to_vec(), "application/json")
        .await
        .unwrap();
    client.purge_queue("mail", false).await.unwrap();
    let (_, body) = get(addr, "/metrics").await;
    let samples = parse_samples(&body);
    // An emptied queue has no tasks to show, so its series go (no stale value stays behind).
    let ready = samples.get("stalk_queue_tasks{queue=\"mail\",state=\"ready\"}");
    assert!(
        ready.is_none_or(|n| *n == 0.0),
        "sampled now, not kept from before: {body}"
    );

    let (status, _) = get(addr, "/nothing").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[tokio::test]
async fn metrics_are_off_unless_asked_for() {
    let broker = TestBroker::start().await;
    assert_eq!(broker.metrics_addr(), None);
}

#[tokio::test]
async fn stalkd_serves_metrics_where_its_ready_line_says() {
    let dir = tempfile::tempdir().unwrap();
    let stalkd = Stalkd::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let addr = stalkd
        .metrics_addr
        .expect("the ready line names metrics_addr");
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(parse_samples(&body)["stalk_up"], 1.0, "{body}");
    assert!(stalkd.terminate().success());

    let without = Stalkd::start(dir.path(), &[]);
    assert_eq!(without.metrics_addr, None);
}
