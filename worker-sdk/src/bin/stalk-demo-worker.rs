//! `stalk-demo-worker`: a worker with demo tasks, for trying stalk out and for tests that need a
//! real worker process. Flags as [`stalk_worker::WorkerArgs`] (read with `worker_args!`, so `--version` names this program); logs to stderr (`STALK_LOG`).
//!
//! - `echo`: returns its JSON argument.
//! - `sleep`: waits that many milliseconds (and logs the pid of the process it runs in).
//! - `patient`: waits that many milliseconds or until its soft time limit, and says which.
//! - `block`: sleeps that many milliseconds on a blocking thread.
//! - `pid`: returns the id of the process that ran it (a prefork child's, in prefork).
//! - `leak`: `[mib, steps]`: leaks `mib` MiB in `steps` steps 20 ms apart; returns the pid.

use std::process::ExitCode;
use std::time::Duration;

use stalk_worker::{TaskContext, TaskError, WorkerError};

#[tokio::main]
async fn main() -> ExitCode {
    stalk_worker::init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stalk-demo-worker: {err}");
            // A setting the builder refuses is a usage error, as a flag clap refuses is.
            let usage = matches!(err, WorkerError::Config(_));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

async fn run() -> Result<(), WorkerError> {
    stalk_worker::worker_args!()
        .builder()
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
        .connect()
        .await?
        .run_until_signal()
        .await
}
