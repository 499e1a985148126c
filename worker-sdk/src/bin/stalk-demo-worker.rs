//! `stalk-demo-worker`: a worker with demo tasks, for trying stalk out and for tests that need a
//! real worker process. Flags as [`stalk_worker::WorkerArgs`] (read with `worker_args!`, so
//! `--version` names this program); logs to stderr (`STALK_LOG`, `--log-format`). A startup
//! error is one line on stderr, with exit code 2 for a refused setting and 1 otherwise.
//!
//! - `echo`: returns its JSON argument.
//! - `sleep`: waits that many milliseconds (and logs the pid of the process it runs in).
//! - `patient`: waits that many milliseconds or until its soft time limit, and says which.
//! - `block`: sleeps that many milliseconds on a blocking thread.
//! - `meta`: returns what its context says of the task (id, name, queue, attempt, priority,
//!   the `tenant` header, enqueue and ready times in ms since the epoch).
//! - `pid`: returns the id of the process that ran it (a prefork child's, in prefork).
//! - `leak`: `[mib, steps]`: leaks `mib` MiB in `steps` steps 20 ms apart; returns the pid.
//! - `fan`: a list of values: replaces itself with a group of `echo` tasks, one per value, on
//!   its own queue; its result is the list the group returns.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stalk_client::Task;
use stalk_worker::{TaskContext, TaskError, WorkerArgs, WorkerError};

#[tokio::main]
async fn main() -> ExitCode {
    let args = stalk_worker::worker_args!();
    stalk_worker::init_logging(args.log_format);
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", sentence(&err));
            // A setting the builder refuses is a usage error, as a flag clap refuses is.
            let usage = matches!(err, WorkerError::Config(_));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// `error` and its causes as one line, outermost first.
fn sentence(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

async fn run(args: WorkerArgs) -> Result<(), WorkerError> {
    args.builder()
        .task("echo", |value: serde_json::Value| async move {
            Ok::<_, TaskError>(value)
        })
        .task("sleep", |ms: u64| async move {
            tracing::info!(pid = std::process::id(), "sleep task started");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, TaskError>(ms)
        })
        .task_with_context("patient", |ms: u64, ctx: TaskContext| async move {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => Ok::<_, TaskError>("slept"),
                () = ctx.soft_limit_reached() => Ok("soft limit"),
            }
        })
        .task_blocking("block", |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            Ok::<_, TaskError>(ms)
        })
        .task_with_context("meta", |(): (), ctx: TaskContext| async move {
            Ok::<_, TaskError>(meta_json(&ctx))
        })
        .task("pid", |(): ()| async move {
            Ok::<_, TaskError>(std::process::id())
        })
        .task("leak", |(mib, steps): (usize, usize)| async move {
            let steps = steps.max(1);
            for _ in 0..steps {
                // Written, not just reserved, so it counts in the resident set.
                std::mem::forget(vec![1u8; (mib << 20) / steps]);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, TaskError>(std::process::id())
        })
        .task_with_context(
            "fan",
            |values: Vec<serde_json::Value>, ctx: TaskContext| async move {
                let mut echoes = Vec::with_capacity(values.len());
                for value in values {
                    echoes.push(
                        Task::new("echo")
                            .queue(ctx.meta().queue.clone())
                            .json(&value)?,
                    );
                }
                ctx.replace(stalk_client::group(echoes));
                Ok::<_, TaskError>(())
            },
        )
        .connect()
        .await?
        .run_until_signal()
        .await
}

/// What a context says of its task, as JSON.
fn meta_json(ctx: &TaskContext) -> serde_json::Value {
    let ms = |time: Option<SystemTime>| {
        time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis())
    };
    let meta = ctx.meta();
    serde_json::json!({
        "id": ctx.task_id(),
        "name": meta.name,
        "queue": meta.queue,
        "attempt": ctx.attempt(),
        "priority": meta.priority,
        "tenant": ctx.header("tenant"),
        "enqueued_at": ms(meta.enqueued_at),
        "ready_at": ms(meta.ready_at),
        "expires_at": ms(meta.expires_at),
    })
}
