//! A prefork worker with leak protection: each task runs in a child process of this binary;
//! a child is replaced after 100 tasks, once it holds more than 200 MiB, or after an hour,
//! and killed at once past 400 MiB or at a task's hard time limit. Every replacement is logged
//! with its reason; a child that dies mid-task has its attempt reported lost, with the signal.
//!
//! ```sh
//! cargo run --release --bin stalkd                                        # terminal 1
//! cargo run -p stalk-worker --example prefork                             # terminal 2
//! cargo run --bin stalk -- enqueue resize --json '{"width": 640, "height": 480}'
//! ```
//!
//! The same limits from the command line of any worker built on `WorkerArgs`:
//! `--pool prefork --concurrency 2 --max-tasks-per-child 100 --max-memory-per-child 200MiB
//! --max-memory-per-child-hard 400MiB --max-child-age 1h --time-limit 30s`.

use std::time::Duration;

use serde::Deserialize;
use stalk_worker::{PoolKind, TaskError};

#[derive(Deserialize)]
struct Resize {
    width: u32,
    height: u32,
}

#[tokio::main]
async fn main() -> Result<(), stalk_worker::WorkerError> {
    let args = stalk_worker::worker_args!();
    stalk_worker::init_logging(args.log_format);
    args.builder()
        .pool(PoolKind::Prefork)
        .concurrency(2)
        .max_tasks_per_child(100)
        .max_memory_per_child(200 << 20)
        .max_memory_per_child_hard(400 << 20)
        .max_child_age(Duration::from_secs(3600))
        .soft_time_limit(Duration::from_secs(25))
        .time_limit(Duration::from_secs(30))
        // CPU-bound work: a blocking handler, in a child process of its own.
        .task_blocking("resize", |job: Resize| {
            let pixels = u64::from(job.width) * u64::from(job.height);
            let checksum = (0..pixels).fold(0u64, |sum, p| sum.wrapping_add(p * 31));
            Ok::<_, TaskError>(checksum)
        })
        .connect()
        .await?
        .run_until_signal()
        .await
}
