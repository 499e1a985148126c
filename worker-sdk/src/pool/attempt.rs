//! Running one handler: on the runtime or a blocking thread, under its time limits.

use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::job::time_limit_exceeded;
use crate::context::TaskContext;
use crate::error::TaskError;
use crate::registry::Handler;
use crate::time::TimeLimits;

/// Far enough to stand for "no limit".
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Whether `handler` runs on a thread (every handler does in the threads pool): such an attempt
/// cannot be stopped from outside.
pub(crate) fn runs_on_thread(handler: &Handler, threads: bool) -> bool {
    threads || matches!(handler, Handler::Blocking(_))
}

/// Runs `handler`: an async one in a task of its own on the runtime, or on a blocking thread
/// when `on_thread`; a blocking one always on a blocking thread. A panic is a retryable `Panic`
/// failure. `slot` is held for as long as the handler's code runs: a thread keeps it until it
/// returns, even when the attempt was given up (a hard time limit, a lost lease).
pub(crate) async fn call(
    handler: Handler,
    payload: Bytes,
    ctx: TaskContext,
    on_thread: bool,
    slot: Option<OwnedSemaphorePermit>,
) -> Result<Vec<u8>, TaskError> {
    // The caller's span (the task's) follows the handler onto its thread.
    let span = tracing::Span::current();
    let joined = match handler {
        // Spawned so a panic is caught; aborted when the attempt is dropped (a hard time limit,
        // a lost lease).
        Handler::Async(handler) if !on_thread => {
            let attempt = handler(payload, ctx);
            AbortOnDropHandle::new(tokio::spawn(
                async move {
                    let _slot = slot;
                    attempt.await
                }
                .instrument(span),
            ))
            .await
        }
        Handler::Async(handler) => {
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let (_slot, _span) = (slot, span.enter());
                runtime.block_on(handler(payload, ctx))
            })
            .await
        }
        Handler::Blocking(handler) => {
            tokio::task::spawn_blocking(move || {
                let (_slot, _span) = (slot, span.enter());
                handler(payload, ctx)
            })
            .await
        }
    };
    joined.unwrap_or_else(|join| {
        Err(TaskError::retry(
            "Panic",
            format!("the handler panicked: {join}"),
        ))
    })
}

/// As [`call`], but an async handler is polled in the caller's task (a prefork child runs one
/// attempt at a time, so a task of its own would only add wake-ups).
pub(crate) async fn call_inline(
    handler: Handler,
    payload: Bytes,
    ctx: TaskContext,
) -> Result<Vec<u8>, TaskError> {
    match handler {
        Handler::Async(handler) => std::panic::AssertUnwindSafe(handler(payload, ctx))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(panicked(&panic))),
        blocking @ Handler::Blocking(_) => call(blocking, payload, ctx, true, None).await,
    }
}

/// The failure of a handler that panicked with `panic`.
fn panicked(panic: &Box<dyn std::any::Any + Send>) -> TaskError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into());
    TaskError::retry("Panic", format!("the handler panicked: {message}"))
}

/// Runs an attempt under its time limits: at the soft limit `soft_limit` is cancelled (the
/// handler sees it in its context); at the hard limit the attempt is dropped and reported as
/// `TimeLimitExceeded` (a retryable failure). An attempt `on_thread` cannot be dropped that
/// way: it is told through `soft_limit`, waited for, and then reported as having run over.
pub(crate) async fn limited(
    attempt: impl Future<Output = Result<Vec<u8>, TaskError>>,
    time_limits: TimeLimits,
    soft_limit: CancellationToken,
    on_thread: bool,
) -> Result<Vec<u8>, TaskError> {
    let limit = time_limits.hard.unwrap_or(NEVER);
    let hard = tokio::time::sleep(limit);
    let soft = tokio::time::sleep(time_limits.soft.unwrap_or(NEVER));
    tokio::pin!(attempt, hard, soft);
    let mut soft_passed = false;
    loop {
        tokio::select! {
            result = &mut attempt => return result,
            () = &mut soft, if !soft_passed => {
                soft_passed = true;
                soft_limit.cancel();
            }
            () = &mut hard => {
                if !on_thread {
                    return Err(time_limit_exceeded(limit));
                }
                break;
            }
        }
    }
    // A thread cannot be killed: the attempt keeps its slot until the thread returns, so the
    // worker never runs more than its concurrency, and says what really happened.
    soft_limit.cancel();
    tracing::warn!(
        limit = ?limit,
        "the attempt passed its hard time limit on a thread, which cannot be stopped; its slot \
         stays taken until the handler returns (the prefork pool can stop blocking code)"
    );
    let over_since = Instant::now();
    let _discarded = attempt.await;
    Err(thread_overran(limit, over_since.elapsed()))
}

/// The error of an attempt on a thread that ran `over` past its hard time `limit`.
fn thread_overran(limit: Duration, over: Duration) -> TaskError {
    TaskError::retry(
        "TimeLimitExceeded",
        format!(
            "the attempt passed its hard time limit of {limit:?} on a thread, and the thread \
             could not be stopped: it ran {over:?} longer, holding its slot, and its result was \
             discarded; use the prefork pool to stop blocking code at a hard time limit"
        ),
    )
}
