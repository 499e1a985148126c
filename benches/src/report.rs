//! Output: one JSON summary line, a human table, and `--out` files with a machine description.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::analytics::RunSummary;

/// The machine a run happened on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the description of this machine.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown".into(), |s| s.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_string());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib,
            kernel,
        }
    }
}

/// Prints the JSON line and the table; appends to `out` when given.
///
/// # Errors
/// When the `--out` file cannot be written.
pub fn emit(summary: &RunSummary, out: Option<&Path>) -> anyhow::Result<()> {
    let line = serde_json::to_string(summary).context("encode the summary")?;
    println!("{line}");
    let l = &summary.latency;
    let rss = summary
        .broker_rss_mib
        .map_or_else(|| "-".into(), |r| format!("{r:.0}"));
    let peak = summary
        .broker_peak_rss_mib
        .map_or_else(|| "-".into(), |r| format!("{r:.0}"));
    println!();
    println!(
        "{:<14} {:>10} {:>9} {:>12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "scenario",
        "tasks",
        "secs",
        "tasks/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "rss MiB",
        "peak MiB"
    );
    println!(
        "{:<14} {:>10} {:>9.2} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>9} {:>9}",
        summary.scenario,
        summary.tasks,
        summary.elapsed_s,
        summary.tasks_per_s,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.max_ms,
        rss,
        peak
    );
    if let Some(out) = out {
        let path = if out == Path::new("auto") {
            auto_path(&summary.scenario)
        } else {
            out.to_path_buf()
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let record = serde_json::json!({
            "machine": Machine::describe(),
            "commit": commit(),
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "run": summary,
        });
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&serde_json::to_string(&record).context("encode the record")?);
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        eprintln!("appended to {}", path.display());
    }
    Ok(())
}

/// The checked-out commit, when run inside the repository.
fn commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn auto_path(scenario: &str) -> PathBuf {
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "undated".into(), |s| s.trim().to_string());
    PathBuf::from("benches/results").join(format!("{date}-{scenario}.json"))
}
