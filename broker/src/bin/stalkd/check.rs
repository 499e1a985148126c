//! `stalkd check`: reads a stopped broker's data dir and reports what it holds and what is wrong.

use stalk_broker::store::{check, CheckReport, StoreConfig};

use crate::args::CheckArgs;

/// Runs the check and answers the exit code: 0 clean, 1 problems found or the check failed.
pub(crate) fn run(args: &CheckArgs) -> i32 {
    let config = StoreConfig {
        path: args.data_dir.clone(),
        cache_bytes: 32 << 20,
        flush_every_ms: 1000,
        min_free_bytes: 0,
        accept_data_loss: false,
    };
    let report = match check(&config) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("stalkd check: {err}");
            return 1;
        }
    };
    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("stalkd check: cannot write the report as JSON: {err}");
                return 1;
            }
        }
    } else {
        print!("{}", human(&report));
    }
    i32::from(!report.is_clean())
}

/// The report as lines for a person.
fn human(report: &CheckReport) -> String {
    let mut out = format!("data dir: {}\n", report.data_dir.display());
    let commit = |n: Option<u64>| n.map_or_else(|| "none".to_string(), |n| n.to_string());
    out += &format!(
        "last group commit: {} in sled, {} in the commit mark\n",
        commit(report.commit_in_sled),
        commit(report.commit_in_mark)
    );
    let total: u64 = report.tasks.values().sum();
    out += &format!("tasks: {total}{}\n", by_state(&report.tasks));
    for (queue, states) in &report.queues {
        let total: u64 = states.values().sum();
        out += &format!("  queue {queue}: {total}{}\n", by_state(states));
    }
    out += &format!(
        "schedules: {}, limits: {}, remembered revocations: {}, event batches: {}\n",
        report.schedules, report.limits, report.revocations, report.event_batches
    );
    if report.is_clean() {
        out += "problems: none\n";
    } else {
        out += &format!("problems: {}\n", report.problem_count);
        for problem in &report.problems {
            out += &format!("  - {problem}\n");
        }
        let unlisted = report.problem_count - report.problems.len() as u64;
        if unlisted > 0 {
            out += &format!("  … and {unlisted} more\n");
        }
    }
    out
}

fn by_state(states: &std::collections::BTreeMap<String, u64>) -> String {
    if states.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!(" ({})", parts.join(", "))
}
