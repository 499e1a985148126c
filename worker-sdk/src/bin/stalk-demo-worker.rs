//! `stalk-demo-worker`: a worker with two demo tasks, for trying stalk out and for tests that
//! need a real worker process: `echo` (returns its JSON argument) and `sleep` (waits that many
//! milliseconds). Flags as [`stalk_worker::WorkerArgs`].

use std::time::Duration;

use clap::Parser;
use stalk_worker::{TaskError, WorkerArgs};

#[tokio::main]
async fn main() -> Result<(), stalk_worker::WorkerError> {
    WorkerArgs::parse()
        .builder()
        .task("echo", |value: serde_json::Value| async move {
            Ok::<_, TaskError>(value)
        })
        .task("sleep", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, TaskError>(ms)
        })
        .connect()
        .await?
        .run_until_signal()
        .await
}
