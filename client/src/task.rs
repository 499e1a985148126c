//! [`Task`]: a builder for one task to enqueue, converted to the wire's `TaskSpec`.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use stalk_proto::v1::TaskSpec;

use crate::error::ClientError;
use crate::wire::{duration_ms, unix_ms};

/// The content type [`Task::json`] and [`Client::ack_json`](crate::Client::ack_json) set.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A task to enqueue: a name (the task type), a payload and options.
///
/// Unset options take the broker's documented defaults (queue `default`, priority 0, 3 retries,
/// …; see `TaskSpec` in `tasks.proto`). Each setter replaces an earlier value; options that
/// exclude each other (`expires_in`/`expires_at`, `countdown`/`eta`) replace each other.
///
/// ```
/// use std::time::Duration;
/// use stalk_client::Task;
///
/// let task = Task::new("email.send")
///     .queue("mail")
///     .json(&serde_json::json!({ "to": "ada@example.com" }))?
///     .priority(5)
///     .countdown(Duration::from_secs(10));
/// assert_eq!(task.spec().queue, "mail");
/// # Ok::<(), stalk_client::ClientError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    spec: TaskSpec,
}

impl Task {
    /// A task of type `name`, e.g. `email.send`, with an empty payload.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            spec: TaskSpec {
                name: name.into(),
                ..TaskSpec::default()
            },
        }
    }

    /// The queue to put the task on (default `default`).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.spec.queue = queue.into();
        self
    }

    /// Sets the payload to `value` encoded as JSON, with content type `application/json`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Json`] if `value` cannot be serialized (e.g. a map with non-string keys).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, ClientError> {
        self.spec.payload = serde_json::to_vec(value)?.into();
        self.spec.content_type = JSON_CONTENT_TYPE.to_owned();
        Ok(self)
    }

    /// Sets the payload to opaque bytes of the given media type.
    pub fn payload(
        mut self,
        bytes: impl Into<bytes::Bytes>,
        content_type: impl Into<String>,
    ) -> Self {
        self.spec.payload = bytes.into();
        self.spec.content_type = content_type.into();
        self
    }

    /// Adds a string header passed to the worker (a repeated key replaces the earlier value).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.headers.insert(key.into(), value.into());
        self
    }

    /// Puts the current `tracing` span's OpenTelemetry context in the headers, as the W3C
    /// `traceparent` and, when the context carries vendor entries, `tracestate`; a worker built
    /// with stalk-worker's `opentelemetry` feature runs the task as a child of that span.
    ///
    /// Leaves the headers as they are when the current span has no OpenTelemetry context: no
    /// span is entered, or no `tracing-opentelemetry` layer is installed. Available with the
    /// `opentelemetry` feature.
    ///
    /// ```no_run
    /// use stalk_client::Task;
    ///
    /// let _checkout = tracing::info_span!("checkout").entered();
    /// let task = Task::new("email.send").with_current_trace();
    /// ```
    #[cfg(feature = "opentelemetry")]
    pub fn with_current_trace(mut self) -> Self {
        use opentelemetry::propagation::TextMapPropagator;
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let context = tracing::Span::current().context();
        // The W3C propagator itself rather than the global one: the worker reads W3C headers,
        // and the global propagator is a no-op until the program sets one.
        opentelemetry_sdk::propagation::TraceContextPropagator::new()
            .inject_context(&context, &mut TraceHeaders(&mut self.spec.headers));
        self
    }

    /// The priority, 0 (lowest, default) to 9 (highest); the broker refuses larger values.
    pub fn priority(mut self, priority: u8) -> Self {
        self.spec.priority = u32::from(priority);
        self
    }

    /// The task id (default: a broker-generated UUIDv7). Enqueueing an id that exists returns
    /// the existing task instead of a duplicate, so retrying an enqueue is safe.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.spec.task_id = id.into();
        self
    }

    /// At most one live task per queue may hold this key; enqueueing another returns the live one.
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.spec.unique_key = key.into();
        self
    }

    /// How many times a failed attempt is retried (default 3); 0 makes the first failure final.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.spec.max_retries = retries;
        self.spec.no_retries = retries == 0;
        self
    }

    /// How many attempts may be lost (the worker or its child process died, or the lease ran out
    /// without an ack) before the task fails with the cause; lost attempts do not use retries.
    /// 1 to 100; the broker's default is 3.
    pub fn max_lost_attempts(mut self, attempts: u32) -> Self {
        self.spec.max_lost_attempts = attempts;
        self
    }

    /// The base of the exponential retry backoff (default 1 s).
    pub fn retry_backoff(mut self, base: Duration) -> Self {
        self.spec.retry_backoff_ms = duration_ms(base);
        self
    }

    /// The cap of the retry backoff (default 10 minutes).
    pub fn retry_backoff_max(mut self, cap: Duration) -> Self {
        self.spec.retry_backoff_max_ms = duration_ms(cap);
        self
    }

    /// How long a lease lasts when the worker's Lease call does not say (default 30 s).
    pub fn lease_duration(mut self, duration: Duration) -> Self {
        self.spec.lease_duration_ms = duration_ms(duration);
        self
    }

    /// A soft time limit for each attempt: the worker tells the handler, which may clean up.
    /// Overrides the worker's limits for this task.
    pub fn soft_time_limit(mut self, limit: Duration) -> Self {
        self.spec.soft_time_limit_ms = duration_ms(limit);
        self
    }

    /// A hard time limit for each attempt: the worker stops the attempt and reports a
    /// `TimeLimitExceeded` failure. Overrides the worker's limits for this task.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.spec.time_limit_ms = duration_ms(limit);
        self
    }

    /// The task EXPIRES if it has not completed this long after the broker receives it.
    /// Replaces [`Task::expires_at`]. `Duration::ZERO` is the wire's "not set": no expiry.
    pub fn expires_in(mut self, after: Duration) -> Self {
        self.spec.expires_in_ms = duration_ms(after);
        self.spec.expires_at_unix_ms = 0;
        self
    }

    /// The task EXPIRES if it has not completed by this time. Replaces [`Task::expires_in`].
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.spec.expires_at_unix_ms = unix_ms(at);
        self.spec.expires_in_ms = 0;
        self
    }

    /// The task is SCHEDULED and not leased until this long after the broker receives it.
    /// Replaces [`Task::eta`].
    pub fn countdown(mut self, delay: Duration) -> Self {
        self.spec.countdown_ms = duration_ms(delay);
        self.spec.eta_unix_ms = 0;
        self
    }

    /// The task is SCHEDULED and not leased before this time. Replaces [`Task::countdown`].
    pub fn eta(mut self, at: SystemTime) -> Self {
        self.spec.eta_unix_ms = unix_ms(at);
        self.spec.countdown_ms = 0;
        self
    }

    /// The task's name (its type).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The wire message this task becomes.
    pub fn spec(&self) -> &TaskSpec {
        &self.spec
    }

    /// Consumes the builder into the wire message.
    pub fn into_spec(self) -> TaskSpec {
        self.spec
    }
}

/// A task's headers as the place the W3C propagator writes to.
#[cfg(feature = "opentelemetry")]
struct TraceHeaders<'a>(&'a mut std::collections::HashMap<String, String>);

#[cfg(feature = "opentelemetry")]
impl opentelemetry::propagation::Injector for TraceHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes an empty `tracestate` for a context without vendor entries:
        // send none then, and drop one set earlier, which belonged to another traceparent.
        if value.is_empty() {
            self.0.remove(key);
        } else {
            self.0.insert(key.to_owned(), value);
        }
    }
}

impl From<Task> for TaskSpec {
    fn from(task: Task) -> Self {
        task.spec
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn a_bare_task_leaves_every_option_to_the_broker() {
        let spec = Task::new("email.send").into_spec();
        assert_eq!(
            spec,
            TaskSpec {
                name: "email.send".into(),
                ..TaskSpec::default()
            }
        );
    }

    #[test]
    fn every_option_lands_in_its_spec_field() {
        let at = UNIX_EPOCH + Duration::from_millis(1_800_000_000_000);
        let spec = TaskSpec::from(
            Task::new("report.build")
                .queue("reports")
                .payload(b"raw".to_vec(), "application/octet-stream")
                .header("trace", "abc")
                .priority(9)
                .id("t-1")
                .unique_key("daily")
                .max_retries(5)
                .retry_backoff(Duration::from_millis(250))
                .retry_backoff_max(Duration::from_secs(60))
                .lease_duration(Duration::from_secs(90))
                .expires_in(Duration::from_secs(3600))
                .eta(at),
        );
        assert_eq!(spec.name, "report.build");
        assert_eq!(spec.queue, "reports");
        assert_eq!(spec.payload, &b"raw"[..]);
        assert_eq!(spec.content_type, "application/octet-stream");
        assert_eq!(spec.headers.get("trace").map(String::as_str), Some("abc"));
        assert_eq!(spec.priority, 9);
        assert_eq!(spec.task_id, "t-1");
        assert_eq!(spec.unique_key, "daily");
        assert_eq!((spec.max_retries, spec.no_retries), (5, false));
        assert_eq!(spec.retry_backoff_ms, 250);
        assert_eq!(spec.retry_backoff_max_ms, 60_000);
        assert_eq!(spec.lease_duration_ms, 90_000);
        assert_eq!(spec.expires_in_ms, 3_600_000);
        assert_eq!(spec.expires_at_unix_ms, 0);
        assert_eq!(spec.eta_unix_ms, 1_800_000_000_000);
        assert_eq!(spec.countdown_ms, 0);
    }

    #[test]
    fn zero_max_retries_sets_no_retries() {
        let spec = Task::new("t").max_retries(0).into_spec();
        assert!(spec.no_retries, "0 retries must be explicit on the wire");
        assert_eq!(spec.max_retries, 0);
        let spec = Task::new("t").max_retries(0).max_retries(2).into_spec();
        assert!(!spec.no_retries, "a later non-zero value clears no_retries");
    }

    #[test]
    fn json_sets_payload_and_content_type() {
        let spec = Task::new("t")
            .json(&serde_json::json!({"n": 1}))
            .expect("a JSON value serializes")
            .into_spec();
        assert_eq!(spec.payload, &br#"{"n":1}"#[..]);
        assert_eq!(spec.content_type, "application/json");
    }

    #[cfg(feature = "opentelemetry")]
    #[test]
    fn without_a_traced_span_with_current_trace_adds_no_headers() {
        let spec = Task::new("t")
            .header("traceparent", "kept as the caller set it")
            .with_current_trace()
            .into_spec();
        assert_eq!(
            spec.headers,
            [(
                "traceparent".to_owned(),
                "kept as the caller set it".to_owned()
            )]
            .into(),
            "no OpenTelemetry layer, no span: nothing to propagate"
        );
    }

    #[test]
    fn exclusive_times_replace_each_other() {
        let at = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let spec = Task::new("t")
            .eta(at)
            .countdown(Duration::from_secs(10))
            .into_spec();
        assert_eq!((spec.eta_unix_ms, spec.countdown_ms), (0, 10_000));
        let spec = Task::new("t")
            .expires_in(Duration::from_secs(1))
            .expires_at(at)
            .into_spec();
        assert_eq!(
            (spec.expires_in_ms, spec.expires_at_unix_ms),
            (0, 2_000_000_000_000)
        );
    }
}
