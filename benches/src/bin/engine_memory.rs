//! `engine_memory`: how many bytes of resident memory the engine holds per task, with no
//! broker, network or store around it, so memory work can be measured in isolation.
//!
//! ```sh
//! cargo run --release -p stalk-benches --bin engine_memory -- --tasks 1000000
//! ```

use clap::Parser;
use stalk_broker::engine::{
    Command, Ctx, Engine, EngineConfig, NewTask, TaskBody, TaskId, TaskOptions,
};

// The broker runs on mimalloc; measure with the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Fills an engine with READY tasks and prints its resident memory per task as one JSON line.
#[derive(Debug, Parser)]
struct Args {
    /// Tasks to enqueue.
    #[arg(long, default_value_t = 1_000_000)]
    tasks: u64,
    /// Tasks per Enqueue command.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut engine = Engine::new(EngineConfig {
        result_ttl_ms: 86_400_000,
        priority_aging_ms: 60_000,
    });
    let before = rss_bytes();
    let mut enqueued = 0;
    let mut seq = 1;
    while enqueued < args.tasks {
        let n = args.batch.min(args.tasks - enqueued);
        // Ids shaped like the broker's generated UUIDv7 ids (36 characters).
        let tasks = (enqueued..enqueued + n)
            .map(|i| NewTask {
                id: TaskId::new(&format!("01a20d3c-0000-7000-8000-{i:012}")),
                name: "bench.noop".into(),
                queue: "bench".into(),
                priority: 0,
                unique_key: None,
                options: TaskOptions::default(),
                expires: None,
                eta: None,
                body: TaskBody::default(),
                flow: None,
            })
            .collect();
        engine.apply(Command::Enqueue(tasks), Ctx { now_ms: 1, seq })?;
        seq += 1;
        enqueued += n;
    }
    let after = rss_bytes();
    anyhow::ensure!(
        engine.len() as u64 == args.tasks,
        "the engine holds every task"
    );
    let per_task = after.saturating_sub(before) as f64 / args.tasks as f64;
    println!(
        "{}",
        serde_json::json!({"tasks": args.tasks, "rss_delta_mib": after.saturating_sub(before) as f64 / 1048576.0, "bytes_per_task": per_task.round()})
    );
    Ok(())
}
