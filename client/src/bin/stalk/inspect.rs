//! `stalk inspect active|reserved|registered|stats`: what connected workers hold, as the
//! broker's sessions know it (no round trip to the workers, so a busy worker answers too).

use serde_json::{json, Value};
use stalk_client::{Client, WorkerInfo};

use crate::args::Inspect;
use crate::commands::{emit, emit_json};
use crate::render;
use crate::table::Table;

/// Prints what `what` asks of the workers named in `only` (all when empty).
pub(crate) async fn run(
    client: &Client,
    what: Inspect,
    only: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let workers: Vec<WorkerInfo> = client
        .list_workers()
        .await?
        .into_iter()
        .filter(|w| only.is_empty() || only.contains(&w.worker_id))
        .collect();
    if json {
        let list: Vec<Value> = workers.iter().map(|w| as_json(w, what)).collect();
        return emit_json(&Value::Array(list));
    }
    let text = match what {
        Inspect::Active | Inspect::Reserved | Inspect::Registered => {
            let mut table = Table::new(&["WORKER", column(what)]);
            for w in &workers {
                for value in values(w, what) {
                    table.row(vec![w.worker_id.clone(), value]);
                }
            }
            table.render()
        }
        Inspect::Stats => {
            let mut table = Table::new(&[
                "WORKER",
                "RUNNING",
                "RESERVED",
                "PROCESSED",
                "CONNECTED",
                "LAST SEEN",
            ]);
            for w in &workers {
                table.row(vec![
                    w.worker_id.clone(),
                    w.running.len().to_string(),
                    w.prefetched.len().to_string(),
                    w.processed.to_string(),
                    render::time_text(w.connected_at),
                    render::time_text(w.last_seen),
                ]);
            }
            table.render()
        }
    };
    emit(&text)
}

fn column(what: Inspect) -> &'static str {
    match what {
        Inspect::Active | Inspect::Reserved => "TASK",
        Inspect::Registered | Inspect::Stats => "TASK NAME",
    }
}

/// The rows `what` lists for one worker.
fn values(w: &WorkerInfo, what: Inspect) -> Vec<String> {
    match what {
        Inspect::Active => w.running.iter().map(|(id, _)| id.clone()).collect(),
        Inspect::Reserved => w.prefetched.iter().map(|(id, _)| id.clone()).collect(),
        Inspect::Registered | Inspect::Stats => w.task_names.clone(),
    }
}

fn as_json(w: &WorkerInfo, what: Inspect) -> Value {
    match what {
        Inspect::Active => json!({ "worker_id": w.worker_id, "active": values(w, what) }),
        Inspect::Reserved => json!({ "worker_id": w.worker_id, "reserved": values(w, what) }),
        Inspect::Registered => {
            json!({ "worker_id": w.worker_id, "registered": values(w, what) })
        }
        Inspect::Stats => json!({
            "worker_id": w.worker_id,
            "running": w.running.len(),
            "reserved": w.prefetched.len(),
            "processed": w.processed,
            "queues": w.queues,
            "connected_at": render::time_json(w.connected_at),
            "last_seen": render::time_json(w.last_seen),
        }),
    }
}
