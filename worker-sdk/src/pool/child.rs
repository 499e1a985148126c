//! The child side of the prefork pool: a worker process started by its parent runs attempts
//! the parent sends, one at a time, instead of talking to the broker.

use std::os::linux::net::SocketAddrExt;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::attempt::{call_inline, limited};
use super::frame::{self, ChildJob, ChildReply};
use crate::context::{Handoff, TaskContext, TaskMeta};
use crate::error::{TaskError, WorkerError};
use crate::registry::Registry;
use crate::resources::Resources;
use crate::time::TimeLimits;

/// Set by the parent on a child it starts: the abstract socket name the child connects to.
pub(crate) const CHILD_ENV: &str = "STALK_WORKER_CHILD_SOCKET";

/// The parent's socket name, when this process is a prefork child.
pub(crate) fn child_socket() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Whether this process is a prefork child, started by a worker's pool to run its attempts.
/// A binary that does more than run one worker checks this first and, when it is a child, only
/// builds the same worker and runs it.
pub fn is_prefork_child() -> bool {
    child_socket().is_some()
}

/// Connects to the parent's abstract socket `name`.
fn connect(name: &str) -> std::io::Result<UnixStream> {
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    stream.set_nonblocking(true)?;
    UnixStream::from_std(stream)
}

/// Serves the parent at socket `name` until it closes the socket (a recycle or a shutdown). The
/// parent enforces hard time and memory limits by killing this process; the soft limit is
/// told to the handler here.
///
/// # Errors
/// [`WorkerError::Child`] when the parent cannot be reached or the socket fails.
pub(crate) async fn serve_parent(
    name: &str,
    registry: &Registry,
    resources: &Resources,
) -> Result<(), WorkerError> {
    let failed = |e: std::io::Error| WorkerError::Child(format!("parent socket {name}: {e}"));
    // SIGTERM and SIGINT are the parent's to act on (a service manager may send them to every
    // process of the worker): held, never read, they are ignored, and warm shutdown lets the
    // running task finish. The child ends when the parent closes the socket or dies.
    #[cfg(unix)]
    let _ignored = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).map_err(failed)?,
            signal(SignalKind::interrupt()).map_err(failed)?,
        )
    };
    let stream = connect(name).map_err(failed)?;
    let (mut reader, mut writer) = stream.into_split();
    while let Some(job) = frame::read::<ChildJob>(&mut reader).await.map_err(failed)? {
        let attempt = run(job, registry, resources.clone());
        // The parent sends nothing while a task runs: a read that ends means it is gone (killed
        // with -9, say). The attempt is abandoned then, so it cannot outlive its lease holder.
        let (result, handoff) = tokio::select! {
            ran = attempt => ran,
            _ = reader.read_u8() => {
                tracing::warn!("the prefork parent is gone; the child exits mid-task");
                std::process::exit(1);
            }
        };
        frame::write(&mut writer, &ChildReply::from_attempt(result, handoff))
            .await
            .map_err(failed)?;
    }
    Ok(())
}

/// Runs one job: its result and what its handler handed on.
async fn run(
    job: ChildJob,
    registry: &Registry,
    resources: Resources,
) -> (Result<Vec<u8>, TaskError>, Handoff) {
    let Some(handler) = registry.get(&job.name) else {
        let unknown = TaskError::fatal(
            "UnknownTask",
            format!("no handler for task {:?} in the prefork child", job.name),
        );
        return (Err(unknown), Handoff::default());
    };
    let meta = Arc::new(TaskMeta::from_leased(&job.task.unwrap_or_default()));
    let handler = match crate::mapping::for_task(handler, &meta) {
        Ok(handler) => handler,
        Err(refused) => return (Err(refused), Handoff::default()),
    };
    let soft_limit = CancellationToken::new();
    let handoff = Arc::default();
    let ctx = TaskContext {
        meta,
        soft_limit: soft_limit.clone(),
        resources,
        handoff: Arc::clone(&handoff),
    };
    let time_limits = TimeLimits {
        soft: (job.soft_limit_ms > 0).then(|| Duration::from_millis(job.soft_limit_ms)),
        hard: None,
    };
    let span = crate::trace::task_span(&ctx.meta);
    // The parent enforces the hard limit by killing this process: nothing here runs over it.
    let result = limited(
        call_inline(handler, job.payload, ctx),
        time_limits,
        soft_limit,
        false,
    )
    .instrument(span)
    .await;
    (result, Handoff::take(&handoff))
}
