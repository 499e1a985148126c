//! Each attempt runs inside a `task` span: its id, name, queue and attempt, and, when its
//! producer sent a W3C `traceparent` header, the producer's trace id and span id, so logs and
//! traces of the attempt can be joined to the trace that sent it.
//!
//! With the `opentelemetry` feature the span is also made a child of the producer's span for
//! a `tracing-opentelemetry` layer, so an exporter shows producer and attempt as one trace.

use crate::context::TaskMeta;

/// The header a producer's trace context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// The header that carries vendor data along with [`TRACEPARENT`] (W3C `tracestate`); the
/// `opentelemetry` feature passes it on to the task span's context.
pub const TRACESTATE: &str = "tracestate";

/// A W3C trace context, as `traceparent` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent<'a> {
    /// 32 lowercase hex digits, not all zero.
    pub(crate) trace_id: &'a str,
    /// 16 lowercase hex digits, not all zero: the producer's span.
    pub(crate) parent_id: &'a str,
}

/// The trace context of a `traceparent` value (`00-<trace id>-<parent id>-<flags>`); `None`
/// for a malformed one, which the attempt then runs without.
pub(crate) fn parse(value: &str) -> Option<TraceParent<'_>> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    // Version ff is invalid; a later version may add fields after the flags.
    let ok = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace_id, 32)
        && !zero(trace_id)
        && hex(parent_id, 16)
        && !zero(parent_id)
        && hex(flags, 2);
    ok.then_some(TraceParent {
        trace_id,
        parent_id,
    })
}

/// The span an attempt of `meta` runs in.
pub(crate) fn task_span(meta: &TaskMeta) -> tracing::Span {
    let span = tracing::info_span!(
        "task",
        id = %meta.id,
        name = %meta.name,
        queue = %meta.queue,
        // Signed: tracing-opentelemetry exports unsigned fields as strings, so an exporter
        // could not compare attempts as numbers.
        attempt = i64::from(meta.attempt),
        trace_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    );
    if let Some(parent) = meta.headers.get(TRACEPARENT).and_then(|v| parse(v)) {
        span.record("trace_id", parent.trace_id);
        span.record("parent_span_id", parent.parent_id);
        // Only a traceparent `parse` accepts links, so the fields and the exported parent
        // never disagree (the propagator alone would take, e.g., short ids).
        #[cfg(feature = "opentelemetry")]
        link_to_producer(&span, &meta.headers);
    }
    span
}

/// Makes `span` a child of the producer's span in OpenTelemetry, with its `tracestate`.
#[cfg(feature = "opentelemetry")]
fn link_to_producer(span: &tracing::Span, headers: &std::collections::HashMap<String, String>) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    // The W3C propagator itself rather than the global one: the headers are W3C by contract,
    // and the global propagator is a no-op until the program sets one.
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract_with_context(&opentelemetry::Context::new(), headers);
    if parent.has_active_span() {
        // Fails only when no tracing-opentelemetry layer sees the span (the program exports no
        // traces) or a filter disabled it: then there is nothing to link, and the fields stay.
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_trace_contexts_are_read() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse(good),
            Some(TraceParent {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
                parent_id: "00f067aa0ba902b7",
            })
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // A later version may carry more after the flags.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").is_some());
    }
}
