//! Requests that never reach a handler because their bytes are bad: the caller's fault, so the
//! caller must be told so (issue 12, §3).
//!
//! tonic's codec reports a body that does not decode (invalid UTF-8, a truncated varint, a wrong
//! wire type, nesting past prost's recursion limit, a frame cut short) as `INTERNAL`, and a
//! message over the size limit as `OUT_OF_RANGE`. Neither is a broker failure, and the generated
//! servers fix the codec, so this layer rewrites those statuses on the way out — in the headers of
//! a trailers-only reply (unary calls) and in the trailers of a stream — into `INVALID_ARGUMENT`
//! naming the field prost reports, and `RESOURCE_EXHAUSTED` naming the limit.
//!
//! It also refuses oversized metadata as a status of its own call. h2 refuses a header list over
//! its own limit with a stream reset only while it can still read it, and drops the whole
//! connection beyond, so h2's limit ([`HEADER_READ_LIMIT`]) is set far above the limit a call is
//! held to ([`MAX_METADATA_BYTES`]), which is enforced here.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::{Code, Status};

/// Largest request metadata a call may carry, counted as HTTP/2 does (name + value + 32 bytes per
/// entry, RFC 9113 §6.5.2): gRPC's usual hard limit. 2,000 tiny entries are over it, too.
const MAX_METADATA_BYTES: usize = 16 << 10;

/// Largest header list h2 reads (and answers for that call alone) before it treats the peer as
/// abusive and closes the connection; see the module docs. Headers are decoded one block at a time
/// per connection and dropped at once by this layer, so this bounds transient memory, not state.
pub(crate) const HEADER_READ_LIMIT: u32 = 2 << 20;

/// What tonic's codec says when prost cannot decode a message.
const PROST_DECODE: &str = "failed to decode Protobuf message: ";
/// What tonic's codec says when a request body ends inside a message frame.
const TRUNCATED_FRAME: &str = "Unexpected EOF decoding stream.";
/// What tonic's codec says when a frame's compression flag is bad.
const BAD_FRAME_FLAG: &str = "protocol error: received message with ";
/// What tonic's codec says when a message is over the decoding limit.
const TOO_LARGE: &str = "Error, decoded message length too large: ";

/// Wraps the router so malformed requests get the caller's-fault statuses described above.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MalformedLayer;

impl<S> tower::Layer<S> for MalformedLayer {
    type Service = Malformed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Malformed { inner }
    }
}

/// A service whose malformed requests are answered as the caller's fault.
#[derive(Debug, Clone)]
pub(crate) struct Malformed<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<Request<B>> for Malformed<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Err(status) = check_metadata(request.headers()) {
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let reply = self.inner.call(request);
        Box::pin(async move { Ok(rewrite_response(reply.await?)) })
    }
}

/// Refuses a call whose metadata is over [`MAX_METADATA_BYTES`].
fn check_metadata(headers: &HeaderMap) -> Result<(), Status> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    if size <= MAX_METADATA_BYTES {
        return Ok(());
    }
    Err(Status::resource_exhausted(format!(
        "request metadata is {size} bytes ({} entries; name + value + 32 each); the limit is {MAX_METADATA_BYTES} bytes",
        headers.len()
    )))
}

/// Rewrites a codec status in the headers (trailers-only reply) and in the trailers (stream).
fn rewrite_response(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    rewrite_status(&mut parts.headers);
    let body = body.map_frame(|mut frame| {
        if let Some(trailers) = frame.trailers_mut() {
            rewrite_status(trailers);
        }
        frame
    });
    Response::from_parts(parts, Body::new(body))
}

/// Replaces a codec status in `headers` by the caller's-fault one, if it is one.
fn rewrite_status(headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(rewritten) = caller_fault(&status) else {
        return;
    };
    if let Err(unencodable) = rewritten.add_header(headers) {
        // Cannot happen for our ASCII messages; keep the original status rather than none.
        tracing::warn!(status = %unencodable, "cannot rewrite a codec status");
    }
}

/// The status a codec failure should have had: the caller sent bad bytes or too many of them.
fn caller_fault(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        Code::Internal => {
            if let Some(what) = message.strip_prefix(PROST_DECODE) {
                Some(Status::invalid_argument(format!(
                    "malformed request message: {what}"
                )))
            } else if message == TRUNCATED_FRAME {
                Some(Status::invalid_argument(
                    "malformed request: the body ends inside a gRPC message frame",
                ))
            } else {
                message.strip_prefix(BAD_FRAME_FLAG).map(|what| {
                    Status::invalid_argument(format!(
                        "malformed request frame: message with {what}"
                    ))
                })
            }
        }
        Code::OutOfRange => message
            .strip_prefix(TOO_LARGE)
            .map(|what| Status::resource_exhausted(format!("request message too large: {what}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_failures_become_the_callers_fault() {
        let cases = [
            (
                Status::internal(
                    "failed to decode Protobuf message: TaskSpec.name: invalid string value: data is not UTF-8 encoded",
                ),
                Code::InvalidArgument,
                "TaskSpec.name: invalid string value",
            ),
            (
                Status::internal(TRUNCATED_FRAME),
                Code::InvalidArgument,
                "ends inside a gRPC message frame",
            ),
            (
                Status::out_of_range(
                    "Error, decoded message length too large: found 9 bytes, the limit is: 8 bytes",
                ),
                Code::ResourceExhausted,
                "the limit is: 8 bytes",
            ),
        ];
        for (status, code, says) in cases {
            let rewritten = caller_fault(&status).expect("a codec failure");
            assert_eq!(rewritten.code(), code, "{status:?}");
            assert!(rewritten.message().contains(says), "{rewritten:?}");
        }
    }

    #[test]
    fn broker_statuses_are_left_alone() {
        assert!(caller_fault(&Status::internal("request id 1: sled failed")).is_none());
        assert!(caller_fault(&Status::out_of_range("page past the end")).is_none());
    }

    #[test]
    fn metadata_over_the_limit_is_refused_with_the_limit_named() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-big",
            "v".repeat(MAX_METADATA_BYTES).parse().expect("ascii"),
        );
        let refused = check_metadata(&headers).expect_err("over the limit");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().contains("16384 bytes"), "{refused:?}");
        assert!(check_metadata(&HeaderMap::new()).is_ok());
    }
}
