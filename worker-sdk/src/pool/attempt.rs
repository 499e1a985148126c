//! Running one handler: on the runtime or a blocking thread, under its time limits.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::job::time_limit_exceeded;
use crate::context::TaskContext;
use crate::error::TaskError;
use crate::registry::Handler;
use crate::time::TimeLimits;

/// Far enough to stand for "no limit".
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Runs `handler`: an async one on the runtime (in a task of its own, or `inline` in the
/// caller's), or on a blocking thread when `on_thread`; a blocking one always on a blocking
/// thread. A panic is a retryable `Panic` failure.
pub(crate) async fn call(
    handler: Handler,
    payload: Bytes,
    ctx: TaskContext,
    on_thread: bool,
) -> Result<Vec<u8>, TaskError> {
    call_in(handler, payload, ctx, on_thread, false).await
}

/// As [`call`]; `inline` polls an async handler in the caller's task (a prefork child runs one
/// attempt at a time, so a task of its own would only add wake-ups).
pub(crate) async fn call_in(
    handler: Handler,
    payload: Bytes,
    ctx: TaskContext,
    on_thread: bool,
    inline: bool,
) -> Result<Vec<u8>, TaskError> {
    let joined = match handler {
        Handler::Async(handler) if inline && !on_thread => {
            return std::panic::AssertUnwindSafe(handler(payload, ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked(&panic)));
        }
        // Spawned so a panic is caught; aborted when the attempt is dropped (a hard time limit,
        // a lost lease).
        Handler::Async(handler) if !on_thread => {
            AbortOnDropHandle::new(tokio::spawn(handler(payload, ctx))).await
        }
        Handler::Async(handler) => {
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || runtime.block_on(handler(payload, ctx))).await
        }
        Handler::Blocking(handler) => {
            tokio::task::spawn_blocking(move || handler(payload, ctx)).await
        }
    };
    joined.unwrap_or_else(|join| {
        Err(TaskError::retry(
            "Panic",
            format!("the handler panicked: {join}"),
        ))
    })
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
/// `TimeLimitExceeded` (a retryable failure). A blocking thread runs on, its result unused.
pub(crate) async fn limited(
    attempt: impl Future<Output = Result<Vec<u8>, TaskError>>,
    time_limits: TimeLimits,
    soft_limit: CancellationToken,
) -> Result<Vec<u8>, TaskError> {
    let hard = tokio::time::sleep(time_limits.hard.unwrap_or(NEVER));
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
                return Err(time_limit_exceeded(time_limits.hard.unwrap_or(NEVER)));
            }
        }
    }
}
