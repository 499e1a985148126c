//! `explain`: why a task is not running. The engine says what holds the task itself (its ETA,
//! a retry backoff, a limit, a paused queue; see [`TaskView`]); the worker sessions say whether
//! any live worker consumes its queue and has a handler for its name, and which worker holds
//! it. Every reason that holds is listed, not only the first.

use crate::broker::Broker;
use crate::engine::{TaskState, TaskView};
use crate::sessions::{SessionRegistry, WorkerInfo};

/// One reason, with what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// What kind of reason, stable for scripts: `eta`, `backoff`, `rate_limit`,
    /// `concurrency_cap`, `queue_paused`, `no_worker_for_queue`, `no_handler`, `prefetched`,
    /// `running`, `ready`, `revoked`, `expired`, `succeeded`, `failed`.
    pub code: &'static str,
    /// The reason in words.
    pub message: String,
    /// Until when it holds, unix ms (ETA, backoff, a rate limit's next token), if known.
    pub until_ms: Option<u64>,
    /// The worker it names.
    pub worker: Option<String>,
    /// The limit it names.
    pub limit: Option<String>,
}

impl Reason {
    fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            until_ms: None,
            worker: None,
            limit: None,
        }
    }
}

/// A task's state and every reason that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The task's state.
    pub state: TaskState,
    /// LEASED and waiting in a worker's buffer, not started.
    pub prefetched: bool,
    /// Every reason, most direct first.
    pub reasons: Vec<Reason>,
}

/// Explains the task `id`; `None` when the broker does not know it.
pub fn explain(broker: &Broker, sessions: &SessionRegistry, id: &str) -> Option<Explanation> {
    let view = broker.task_view(id)?;
    let workers = sessions.workers();
    let mut reasons = Vec::new();
    match view.state {
        TaskState::Scheduled => reasons.push(Reason {
            until_ms: view.due_ms,
            ..Reason::new("eta", "its ETA has not come".into())
        }),
        TaskState::Retrying => reasons.push(Reason {
            until_ms: view.due_ms,
            ..Reason::new(
                "backoff",
                format!(
                    "a failed attempt waits out its retry backoff{}",
                    error_suffix(&view)
                ),
            )
        }),
        TaskState::Ready => held_reasons(&view, &mut reasons),
        TaskState::Waiting => {
            let (inputs, parents) = view.waits_for.clone().unwrap_or_default();
            let mut named: Vec<String> = parents.iter().take(10).map(ToString::to_string).collect();
            if parents.len() > named.len() {
                named.push(format!("and {} more", parents.len() - named.len()));
            }
            reasons.push(Reason::new(
                "workflow",
                format!(
                    "it waits for {} of the {inputs} tasks before it in its workflow: {}",
                    parents.len(),
                    named.join(", ")
                ),
            ));
        }
        TaskState::Leased => {
            let holder = holder(&workers, view.lease_id);
            let (code, message) = if view.prefetched {
                (
                    "prefetched",
                    "it waits in a worker's prefetch buffer for a free slot",
                )
            } else {
                ("running", "it runs")
            };
            reasons.push(Reason {
                worker: holder.clone(),
                ..Reason::new(
                    code,
                    match &holder {
                        Some(worker) => format!("{message} (worker {worker})"),
                        None => format!("{message} (leased with the unary Lease call)"),
                    },
                )
            });
        }
        terminal => reasons.push(Reason::new(
            terminal.name(),
            format!("it {}{}", finished(terminal), error_suffix(&view)),
        )),
    }
    if view.state.is_waiting() {
        worker_reasons(&view, &workers, &mut reasons);
        if view.state == TaskState::Ready && reasons.is_empty() {
            reasons.push(Reason::new(
                "ready",
                "nothing holds it: the next lease of its queue takes it, in priority order".into(),
            ));
        }
    }
    Some(Explanation {
        state: view.state,
        prefetched: view.prefetched,
        reasons,
    })
}

/// What holds a READY task in the broker: a paused queue, a limit.
fn held_reasons(view: &TaskView, reasons: &mut Vec<Reason>) {
    if view.paused {
        reasons.push(Reason::new(
            "queue_paused",
            format!(
                "its queue {:?} is paused (`stalk queues resume {}`)",
                &*view.queue, &*view.queue
            ),
        ));
    }
    let Some(held) = &view.held else {
        return;
    };
    if held.until_ms > 0 {
        reasons.push(Reason {
            until_ms: Some(held.until_ms),
            limit: Some(held.limit.clone()),
            ..Reason::new(
                "rate_limit",
                format!("the {} has no token until its next one", held.limit),
            )
        });
        return;
    }
    // An unkeyed cap's count is the one that is full (a keyed one's is over all its keys).
    let full = view
        .limits
        .iter()
        .find(|info| held.limit == format!("concurrency cap {}", info.key));
    let message = match full.and_then(|info| info.limit.concurrency.map(|cap| (info, cap))) {
        Some((info, cap)) => format!(
            "the {} is full: {} of {cap} running; it goes when one ends",
            held.limit, info.running
        ),
        None => format!(
            "the {} is full; it goes when a running task ends",
            held.limit
        ),
    };
    reasons.push(Reason {
        limit: Some(held.limit.clone()),
        ..Reason::new("concurrency_cap", message)
    });
}

/// Whether a live worker would take a waiting task: one consumes its queue, and one of those
/// has a handler for its name.
fn worker_reasons(view: &TaskView, workers: &[WorkerInfo], reasons: &mut Vec<Reason>) {
    let consumers: Vec<&WorkerInfo> = workers
        .iter()
        .filter(|w| w.queues.iter().any(|q| *q == *view.queue))
        .collect();
    if consumers.is_empty() {
        reasons.push(Reason::new(
            "no_worker_for_queue",
            format!("no live worker consumes its queue {:?}", &*view.queue),
        ));
        return;
    }
    // A worker that reported no names takes any name.
    let handled = consumers
        .iter()
        .any(|w| w.task_names.is_empty() || w.task_names.iter().any(|n| *n == *view.name));
    if !handled {
        reasons.push(Reason::new(
            "no_handler",
            format!(
                "no live worker of queue {:?} has a handler for {:?}",
                &*view.queue, &*view.name
            ),
        ));
    }
}

/// The worker that holds lease `lease_id`.
fn holder(workers: &[WorkerInfo], lease_id: Option<u64>) -> Option<String> {
    let lease_id = lease_id?;
    workers
        .iter()
        .find(|w| w.tasks.iter().any(|(_, lease, _)| *lease == lease_id))
        .map(|w| w.worker_id.clone())
}

fn finished(state: TaskState) -> &'static str {
    match state {
        TaskState::Succeeded => "succeeded",
        TaskState::Failed => "failed for good and is a dead letter (`stalk dead replay`)",
        TaskState::Revoked => "was revoked",
        TaskState::Expired => "expired before it started",
        _ => "finished",
    }
}

fn error_suffix(view: &TaskView) -> String {
    view.error
        .as_ref()
        .map(|e| format!(": {}: {}", e.kind, e.message))
        .unwrap_or_default()
}
