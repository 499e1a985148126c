//! The dashboard's JSON API on the HTTP address (issue 13): the answers the page reads, the
//! status codes for bad input, and the broker's token guarding it. The page itself is driven in
//! a real browser in `browser`.

use std::net::SocketAddr;

use serde_json::Value;
use stalk_client::{Task, TaskState};
use stalk_testkit::{http_request, HttpResponse, TestBroker};

use crate::support::lease;

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let HttpResponse { status, body, .. } = http_request(addr, method, path, headers, body)
        .await
        .unwrap();
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    (
        code,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    call(addr, "GET", path, &[], "").await
}

async fn with_http() -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".into())).await;
    let addr = broker.metrics_addr().expect("the HTTP address is served");
    (broker, addr)
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let (_broker, addr) = with_http().await;
    let page = http_request(addr, "GET", "/", &[], "").await.unwrap();
    assert_eq!(page.status, "HTTP/1.1 200 OK");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("/assets/app.js"), "{}", page.body);
    for (path, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let asset = http_request(addr, "GET", path, &[], "").await.unwrap();
        assert_eq!(asset.status, "HTTP/1.1 200 OK", "{path}");
        assert!(
            asset.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_api_answers_what_the_grpc_services_answer() {
    let (broker, addr) = with_http().await;
    let client = broker.client().await;
    let done = client
        .enqueue(Task::new("resize").queue("images"))
        .await
        .unwrap();
    client
        .enqueue(Task::new("resize").queue("images"))
        .await
        .unwrap();
    let task = lease(&client, "images", 1).await.remove(0);
    assert_eq!(task.id, done.id);
    client
        .ack_success(&task, b"\"thumb.png\"".to_vec(), "application/json")
        .await
        .unwrap();

    let (code, queues) = get(addr, "/api/queues").await;
    assert_eq!(code, 200, "{queues}");
    assert_eq!(queues["queues"][0]["queue"], "images");
    assert_eq!(queues["queues"][0]["ready"], 1);
    assert!(
        queues["queues"][0]["oldest_ready_at_ms"].as_i64().unwrap() > 0,
        "{queues}"
    );

    let (code, shown) = get(addr, &format!("/api/tasks/{}", done.id)).await;
    assert_eq!(code, 200, "{shown}");
    assert_eq!(shown["task"]["state"], "succeeded");
    assert_eq!(shown["task"]["result"]["text"], "\"thumb.png\"");
    let types: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["task-sent", "task-leased", "task-started", "task-succeeded"]
    );

    let (code, workers) = get(addr, "/api/workers").await;
    assert_eq!(
        (code, workers["workers"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (code, limits) = get(addr, "/api/limits").await;
    assert_eq!(
        (code, limits["limits"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (code, schedules) = get(addr, "/api/schedules").await;
    assert_eq!(
        (code, schedules["schedules"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed() {
    let (broker, addr) = with_http().await;
    let client = broker.client().await;
    let handle = client.enqueue(Task::new("parse").queue("q")).await.unwrap();
    let task = lease(&client, "q", 1).await.remove(0);
    client
        .ack_failure(&task, "ValueError", "bad input", true, None)
        .await
        .unwrap();

    let (code, dead) = get(addr, "/api/queues/q/dead").await;
    assert_eq!(code, 200, "{dead}");
    assert_eq!(dead["tasks"][0]["task_id"], handle.id.as_str());
    assert_eq!(dead["tasks"][0]["error"]["message"], "bad input");

    let body = format!(r#"{{"task_ids":["{}"]}}"#, handle.id);
    let json = [("content-type", "application/json")];
    let (code, replayed) = call(addr, "POST", "/api/queues/q/dead/replay", &json, &body).await;
    assert_eq!(code, 200, "{replayed}");
    assert_eq!(replayed["task_ids"][0], handle.id.as_str());
    let status = client.result(&handle.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Ready);
}

#[tokio::test]
async fn bad_input_gets_the_status_and_message_grpc_gives() {
    let (_broker, addr) = with_http().await;
    let (code, unknown) = get(addr, "/api/tasks/no-such-task").await;
    assert_eq!(code, 404, "{unknown}");
    assert_eq!(unknown["code"], "not_found");
    assert!(unknown["message"]
        .as_str()
        .unwrap()
        .contains("no-such-task"));

    let long = "x".repeat(300);
    let (code, invalid) = get(addr, &format!("/api/tasks/{long}")).await;
    assert_eq!(
        (code, &invalid["code"]),
        (400, &Value::from("invalid_argument")),
        "{invalid}"
    );

    let json = [("content-type", "application/json")];
    let (code, bad_queue) = call(
        addr,
        "POST",
        &format!("/api/queues/{long}/dead/replay"),
        &json,
        "{}",
    )
    .await;
    assert_eq!(code, 400, "{bad_queue}");
    assert!(
        bad_queue["message"].as_str().unwrap().contains("queue"),
        "{bad_queue}"
    );

    let (code, not_json) = call(addr, "POST", "/api/queues/q/dead/replay", &json, "{nope").await;
    assert_eq!(code, 400, "{not_json}");
    assert_eq!(not_json["code"], "invalid_argument");

    let (code, bad_page) = get(addr, "/api/queues/q/dead?page_size=lots").await;
    assert_eq!(code, 400, "{bad_page}");
    let (code, bad_token) = get(addr, "/api/queues/q/dead?page_token=garbage").await;
    assert_eq!(code, 400, "{bad_token}");
    let (code, bad_type) = get(addr, "/api/events?types=task-exploded").await;
    assert_eq!(code, 400, "{bad_type}");
}

#[tokio::test]
async fn the_brokers_token_guards_the_api_but_not_the_page() {
    let broker = TestBroker::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".into());
        c.auth_token = Some("s3cret".into());
    })
    .await;
    let addr = broker.metrics_addr().unwrap();
    assert_eq!(
        http_request(addr, "GET", "/", &[], "")
            .await
            .unwrap()
            .status,
        "HTTP/1.1 200 OK"
    );
    let (code, refused) = get(addr, "/api/queues").await;
    assert_eq!(
        (code, &refused["code"]),
        (401, &Value::from("unauthenticated"))
    );
    let (code, _) = call(
        addr,
        "GET",
        "/api/queues",
        &[("authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(code, 401);
    let (code, _) = call(
        addr,
        "GET",
        "/api/queues",
        &[("authorization", "Bearer s3cret")],
        "",
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = call(addr, "GET", "/api/events", &[], "").await;
    assert_eq!(code, 401, "the live feed is guarded too");

    let json = [("content-type", "application/json")];
    let (code, _) = call(addr, "POST", "/api/login", &json, r#"{"token":"nope"}"#).await;
    assert_eq!(code, 401);
    let signed_in = http_request(addr, "POST", "/api/login", &json, r#"{"token":"s3cret"}"#)
        .await
        .unwrap();
    assert_eq!(signed_in.status, "HTTP/1.1 204 No Content");
    let cookie = signed_in.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let (code, _) = call(addr, "GET", "/api/queues", &[("cookie", pair)], "").await;
    assert_eq!(code, 200, "the sign-in cookie admits the page's reads");
}
