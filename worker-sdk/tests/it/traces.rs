//! Each attempt runs in a `task` span with its id, name, queue and attempt and, when the
//! producer sent a W3C `traceparent` header, the producer's trace and span ids (issue 13):
//! what the handler logs carries them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::{TaskError, TRACEPARENT};

use crate::support::{finish, spawn};

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn what_a_handler_logs_carries_its_task_and_its_producers_trace() {
    let captured = Captured::default();
    let writer = captured.clone();
    // nextest runs each test in a process of its own, so this subscriber sees only this test.
    tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber in this process");
    let broker = TestBroker::start().await;
    let _worker = spawn(&broker, |w| {
        w.queues(["traced"])
            .task("traced.work", |(): ()| async move {
                tracing::info!("inside the handler");
                Ok::<_, TaskError>(())
            })
    })
    .await;
    let client = broker.client().await;
    let task = Task::new("traced.work")
        .queue("traced")
        .id("t-traced")
        .header(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&())
        .unwrap();
    assert_eq!(finish(&client, task).await.state, TaskState::Succeeded);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "inside the handler")
        .unwrap_or_else(|| panic!("the handler's line: {text}"));
    let span = &line["span"];
    assert_eq!(span["name"], "task", "{line}");
    assert_eq!(span["id"], "t-traced", "{line}");
    assert_eq!(span["queue"], "traced", "{line}");
    assert_eq!(span["attempt"], 1, "{line}");
    assert_eq!(
        span["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "{line}"
    );
    assert_eq!(span["parent_span_id"], "00f067aa0ba902b7", "{line}");
}
