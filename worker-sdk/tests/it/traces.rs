//! Each attempt runs in a `task` span with its id, name, queue and attempt and, when the
//! producer sent a W3C `traceparent` header, the producer's trace and span ids (issue 13):
//! what the handler logs carries them. With the `opentelemetry` features (on in this test
//! build, see Cargo.toml) a producer's span context travels in the headers and the exported
//! task span is its child, so producer and attempt are one trace.

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use stalk_client::{Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{TaskError, TRACEPARENT, TRACESTATE};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::support::{finish, spawn, Running, SOON};

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

/// Spans exported by a tracing-opentelemetry layer, kept in memory.
struct Exported {
    spans: InMemorySpanExporter,
    // The layer's tracer exports through it: kept alive for the whole test.
    _provider: SdkTracerProvider,
}

impl Exported {
    /// Installs the layer as this process's subscriber: the worker runs attempts on tasks and
    /// threads of its own, which a scoped subscriber would not reach. nextest runs each test in
    /// a process of its own, so the subscriber sees only this test.
    fn install() -> Self {
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("stalk-tests")))
            .try_init()
            .expect("the only subscriber in this process");
        Self {
            spans,
            _provider: provider,
        }
    }

    /// Waits for the `task` span of task `id` to end and be exported.
    async fn task_span(&self, id: &str) -> SpanData {
        let id = Value::from(id.to_owned());
        let is_it = |s: &SpanData| s.name == "task" && attribute(s, "id").as_ref() == Some(&id);
        let spans = wait_until(
            SOON,
            || async { self.spans.get_finished_spans().expect("in-memory export") },
            |spans| spans.iter().any(is_it),
        )
        .await
        .unwrap_or_else(|seen| panic!("task {id}'s span is exported; seen: {seen:#?}"));
        spans.into_iter().find(is_it).expect("wait_until found it")
    }
}

/// The value of a span's attribute.
fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// A worker that runs `traced.work` from queue `traced`.
async fn traced_worker(broker: &TestBroker) -> Running {
    spawn(broker, |w| {
        w.queues(["traced"]).task(
            "traced.work",
            |(): ()| async move { Ok::<_, TaskError>(()) },
        )
    })
    .await
}

#[tokio::test]
async fn a_task_sent_inside_a_traced_span_runs_as_that_spans_child() {
    let exported = Exported::install();
    let broker = TestBroker::start().await;
    let _worker = traced_worker(&broker).await;
    let client = broker.client().await;

    let checkout = tracing::info_span!("checkout");
    let task = checkout
        .in_scope(|| {
            Task::new("traced.work")
                .queue("traced")
                .id("t-linked")
                .with_current_trace()
        })
        .json(&())
        .unwrap();
    let producer = checkout.context().span().span_context().clone();
    assert!(
        producer.is_valid(),
        "the layer gives the producer span a context"
    );
    assert_eq!(
        task.spec().headers.get(TRACEPARENT),
        Some(&format!(
            "00-{}-{}-01",
            producer.trace_id(),
            producer.span_id()
        )),
        "the producer's span travels in the traceparent header"
    );
    assert_eq!(
        task.spec().headers.get(TRACESTATE),
        None,
        "an empty tracestate is not sent"
    );
    assert_eq!(finish(&client, task).await.state, TaskState::Succeeded);

    let span = exported.task_span("t-linked").await;
    assert_eq!(
        span.span_context.trace_id(),
        producer.trace_id(),
        "one trace from producer to attempt: {span:#?}"
    );
    assert_eq!(
        span.parent_span_id,
        producer.span_id(),
        "the producer's span is the parent: {span:#?}"
    );
    assert!(
        span.parent_span_is_remote,
        "the parent came from another process's headers: {span:#?}"
    );
    assert_eq!(
        attribute(&span, "name"),
        Some("traced.work".into()),
        "{span:#?}"
    );
    assert_eq!(
        attribute(&span, "queue"),
        Some("traced".into()),
        "{span:#?}"
    );
    assert_eq!(
        attribute(&span, "attempt"),
        Some(Value::I64(1)),
        "{span:#?}"
    );
}

#[tokio::test]
async fn the_producers_tracestate_reaches_the_task_span() {
    let exported = Exported::install();
    let broker = TestBroker::start().await;
    let _worker = traced_worker(&broker).await;
    let client = broker.client().await;

    // The producer itself continues a trace that arrived with vendor data, as a request
    // handler does; its span inherits the upstream's tracestate.
    let upstream = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "opaque")]).unwrap(),
    );
    let checkout = tracing::info_span!("checkout");
    checkout
        .set_parent(Context::new().with_remote_span_context(upstream))
        .expect("the layer is installed and the span not started");
    let task = checkout
        .in_scope(|| {
            Task::new("traced.work")
                .queue("traced")
                .id("t-state")
                .with_current_trace()
        })
        .json(&())
        .unwrap();
    assert_eq!(
        task.spec().headers.get(TRACESTATE).map(String::as_str),
        Some("vendor=opaque"),
        "the tracestate header travels with the traceparent"
    );
    assert_eq!(finish(&client, task).await.state, TaskState::Succeeded);

    let span = exported.task_span("t-state").await;
    assert_eq!(
        span.span_context.trace_state().header(),
        "vendor=opaque",
        "{span:#?}"
    );
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        "{span:#?}"
    );
}

#[tokio::test]
async fn a_malformed_traceparent_runs_the_task_in_an_unlinked_span() {
    let exported = Exported::install();
    let broker = TestBroker::start().await;
    let _worker = traced_worker(&broker).await;
    let client = broker.client().await;

    // Short ids: OpenTelemetry's propagator alone would accept them, the worker's W3C check
    // does not, and the span must agree with the fields it records.
    let task = Task::new("traced.work")
        .queue("traced")
        .id("t-malformed")
        .header(TRACEPARENT, "00-4bf92f35-00f067aa-01")
        .json(&())
        .unwrap();
    assert_eq!(finish(&client, task).await.state, TaskState::Succeeded);

    let span = exported.task_span("t-malformed").await;
    assert_eq!(
        span.parent_span_id,
        SpanId::INVALID,
        "a root span, no parent: {span:#?}"
    );
    assert_ne!(
        span.span_context.trace_id(),
        TraceId::from_hex("4bf92f35").unwrap(),
        "{span:#?}"
    );
    assert_eq!(attribute(&span, "trace_id"), None, "{span:#?}");
    assert_eq!(
        attribute(&span, "name"),
        Some("traced.work".into()),
        "{span:#?}"
    );
}
