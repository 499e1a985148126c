//! The web dashboard in a real browser (issue 13): Debian's headless Chromium, driven over
//! WebDriver by chromedriver. The page signs in with the broker's token, shows a queue the
//! test made, follows a task's completion without a reload, and replays a dead letter.
//!
//! `.ci/run` installs `chromium` and `chromium-driver`; elsewhere the test says it was skipped
//! when they are missing (and fails under `CI=true`, where they must be there).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use stalk_client::{Task, TaskState};
use stalk_testkit::{system_tool, wait_until, TestBroker};

use crate::support::lease;

/// How long the page may take to show a change.
const PATIENCE: Duration = Duration::from_secs(30);

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    _process: tokio::process::Child,
    addr: SocketAddr,
}

async fn driver(chromedriver: PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = tokio::process::Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let answered = wait_until(
        PATIENCE,
        // It listens once it is ready for sessions.
        || async { tokio::net::TcpStream::connect(addr).await.map(drop) },
        Result::is_ok,
    )
    .await;
    assert!(
        answered.is_ok(),
        "chromedriver never answered: {answered:?}"
    );
    Driver {
        _process: process,
        addr,
    }
}

async fn browser(driver: &Driver, chromium: PathBuf, profile: &std::path::Path) -> Browser {
    let options = serde_json::json!({
        "binary": chromium,
        // The machine's network is closed: without these Chromium keeps calling out.
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://{}", driver.addr))
        .await
        .unwrap()
}

/// Waits until the element at `css` exists and its text passes `wanted`; its text.
async fn text_at(page: &Browser, css: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = String::new();
    loop {
        if let Ok(element) = page.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if wanted(&text) {
                    return text;
                }
                last = text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never showed what was wanted; last text {last:?}, page:\n{}",
            page.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_state_and_replays_a_dead_letter() {
    let (Some(chromium), Some(chromedriver)) = (
        system_tool("chromium", "chromium"),
        system_tool("chromedriver", "chromium-driver"),
    ) else {
        return;
    };
    let broker = TestBroker::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".into());
        c.auth_token = Some("s3cret".into());
    })
    .await;
    let http = broker.metrics_addr().unwrap();
    let client = broker.client().await;
    let poison = client
        .enqueue(Task::new("parse").queue("dash"))
        .await
        .unwrap();
    let task = lease(&client, "dash", 1).await.remove(0);
    client
        .ack_failure(&task, "ValueError", "bad input", true, None)
        .await
        .unwrap();
    let first = client
        .enqueue(Task::new("resize").queue("dash"))
        .await
        .unwrap();
    client
        .enqueue(Task::new("resize").queue("dash"))
        .await
        .unwrap();

    let driver = driver(chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let page = browser(&driver, chromium, profile.path()).await;
    page.goto(&format!("http://{http}/")).await.unwrap();

    // The broker has a token: the page asks for it.
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#sign-in-token"))
        .await
        .unwrap()
        .send_keys("s3cret")
        .await
        .unwrap();
    page.find(Locator::Css("#sign-in-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let ready = r#"tr[data-queue="dash"] td[data-col="ready"]"#;
    text_at(&page, ready, |t| t == "2").await;
    text_at(&page, r#"tr[data-queue="dash"] td[data-col="dead"]"#, |t| {
        t == "1"
    })
    .await;
    text_at(&page, "#feed-state", |t| t == "live").await;

    // A task completes elsewhere: the page follows without a reload (the marker survives).
    page.execute("window.stalkMarker = 42;", vec![])
        .await
        .unwrap();
    let leased = lease(&client, "dash", 1).await.remove(0);
    assert_eq!(leased.id, first.id);
    client
        .ack_success(&leased, b"done".to_vec(), "text/plain")
        .await
        .unwrap();
    text_at(&page, ready, |t| t == "1").await;
    let succeeded = format!(r##"#events a[href="#/task/{}"]"##, first.id);
    text_at(&page, &succeeded, |t| t == first.id).await;
    let marker = page
        .execute("return window.stalkMarker;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, serde_json::json!(42), "the page was not reloaded");

    // Replay the dead letter from the page.
    page.find(Locator::Css(r#"nav a[data-nav="dead"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let button = format!(r#"button.replay[data-task-id="{}"]"#, poison.id);
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_at(&page, "#replay-result", |t| t == "Replayed 1 from dash.").await;
    let status = client.result(&poison.id, None).await.unwrap();
    assert_eq!(status.state, TaskState::Ready);
    assert_eq!(client.queue_stats(&["dash"]).await.unwrap()[0].dead, 0);

    // The task page shows its history, replay included, and why it waits.
    page.goto(&format!("http://{http}/#/task/{}", poison.id))
        .await
        .unwrap();
    text_at(&page, "#task-state", |t| t == "ready").await;
    text_at(&page, "#history", |t| t.contains("task-replayed")).await;
    text_at(&page, "#explain", |t| t.contains("no live worker")).await;
    page.close().await.unwrap();
}
