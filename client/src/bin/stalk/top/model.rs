//! What `stalk top` shows, as plain data: the last snapshot of queues and workers, each
//! queue's recent traffic from the event stream, the recent failures, and where the user is
//! (pane, selection, sort, filter, the open task). No I/O and no clock: callers pass `now`,
//! so tests drive it with made-up times.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use stalk_client::{Event, Explanation, QueueStats, TaskHistory, WorkerInfo};

use super::window::{Rates, Sample, Window};

/// How many failures the failures pane keeps, newest first.
const FAILURES_KEPT: usize = 200;

/// Queues and workers as the broker listed them at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// When it was taken (this terminal's clock): ages are measured from it.
    pub(crate) taken_at: SystemTime,
    /// Task counts per queue.
    pub(crate) queues: Vec<QueueStats>,
    /// Per queue with ready tasks: when the task next in line was enqueued.
    pub(crate) heads: BTreeMap<String, SystemTime>,
    /// The connected workers.
    pub(crate) workers: Vec<WorkerInfo>,
}

/// A failed attempt, as the event stream reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// When it happened (the broker's clock).
    pub(crate) at: Option<SystemTime>,
    /// `failed` (for good, to the dead letters), `retried` or `lost`.
    pub(crate) outcome: String,
    /// The task.
    pub(crate) task_id: String,
    /// Its name.
    pub(crate) task_name: String,
    /// Its queue.
    pub(crate) queue: String,
    /// The attempt that failed.
    pub(crate) attempt: u32,
    /// `Kind: message`.
    pub(crate) error: String,
}

/// One row of the queues pane.
#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    /// Counts from the last snapshot (zero for a queue only the events named).
    pub(crate) counts: QueueStats,
    /// Traffic over the window.
    pub(crate) rates: Rates,
    /// How long the task next in line has been waiting since its enqueue.
    pub(crate) oldest: Option<Duration>,
}

/// The task opened with Enter: what the broker said about it.
#[derive(Debug, Clone)]
pub(crate) struct TaskDetail {
    /// The task id.
    pub(crate) task_id: String,
    /// Why it is (not) running, or why the broker could not say.
    pub(crate) explanation: Result<Explanation, String>,
    /// Its retained events, or why they could not be read.
    pub(crate) history: Result<TaskHistory, String>,
}

/// The task pane: asked for, or answered.
#[derive(Debug, Clone)]
pub(crate) enum Detail {
    /// The broker was asked about this task id.
    Loading(String),
    /// The answer.
    Loaded(Box<TaskDetail>),
}

/// The three panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pane {
    /// Queues with depth, rates and latency.
    Queues,
    /// Connected workers.
    Workers,
    /// Recent failures.
    Failures,
}

/// A column the queues pane can be sorted by, in the order `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueColumn {
    /// The queue name (A to Z).
    Name,
    /// Ready tasks.
    Ready,
    /// Tasks sent per second.
    In,
    /// Tasks finished per second.
    Out,
    /// Median wait.
    Wait,
    /// How long the next task has waited.
    Oldest,
    /// Dead letters.
    Dead,
}

/// A column the workers pane can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerColumn {
    /// The worker id (A to Z).
    Id,
    /// Tasks running.
    Busy,
    /// Attempts completed this session.
    Processed,
    /// Time since the worker was last heard from.
    Seen,
}

/// How the event stream is doing, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Feed {
    /// Not yet watching.
    Connecting,
    /// Watching live events.
    Live,
    /// The last thing the stream said (a reconnect, a gap).
    Notice(String),
}

/// Everything `stalk top` shows, and where the user is in it.
#[derive(Debug)]
pub(crate) struct App {
    /// The window rates and latencies cover.
    pub(crate) span: Duration,
    /// When the events began to arrive.
    pub(crate) watching_since: Instant,
    /// The last snapshot; `None` until the first poll answered.
    pub(crate) snapshot: Option<Snapshot>,
    /// Why the last poll failed; cleared by the next snapshot.
    pub(crate) poll_error: Option<String>,
    /// The event stream's state.
    pub(crate) feed: Feed,
    /// Each queue's recent traffic.
    windows: BTreeMap<String, Window>,
    /// Newest first, at most [`FAILURES_KEPT`].
    failures: VecDeque<Failure>,
    /// The pane the keys act on.
    pub(crate) focus: Pane,
    /// The selected row of each pane, an index into its filtered, sorted rows.
    pub(crate) selected: [usize; 3],
    /// The queues pane's sort column, and whether its order is reversed.
    pub(crate) queue_sort: (QueueColumn, bool),
    /// The workers pane's sort column, and whether its order is reversed.
    pub(crate) worker_sort: (WorkerColumn, bool),
    /// Shown rows' queue or task names contain this.
    pub(crate) filter: String,
    /// Keys go to the filter until Enter or Esc.
    pub(crate) editing_filter: bool,
    /// The task pane, over the others while open.
    pub(crate) detail: Option<Detail>,
    /// How many lines of the task pane are scrolled off its top.
    pub(crate) detail_scroll: u16,
}

impl App {
    /// An empty view whose rates cover the last `span`, watching from `now`.
    pub(crate) fn new(span: Duration, now: Instant) -> Self {
        Self {
            span,
            watching_since: now,
            snapshot: None,
            poll_error: None,
            feed: Feed::Connecting,
            windows: BTreeMap::new(),
            failures: VecDeque::new(),
            focus: Pane::Queues,
            selected: [0; 3],
            queue_sort: (QueueColumn::Name, false),
            worker_sort: (WorkerColumn::Id, false),
            filter: String::new(),
            editing_filter: false,
            detail: None,
            detail_scroll: 0,
        }
    }

    /// Takes a new snapshot, and forgets the traffic of queues quiet for a whole window.
    pub(crate) fn apply_snapshot(&mut self, snapshot: Snapshot, now: Instant) {
        self.windows.retain(|_, window| !window.is_quiet(now));
        self.snapshot = Some(snapshot);
        self.poll_error = None;
    }

    /// Counts `event` in its queue's window, and keeps it if it is a failure.
    pub(crate) fn apply_event(&mut self, event: &Event, now: Instant) {
        let Some(queue) = event.queue.clone() else {
            return;
        };
        let samples: &[Sample] = match event.kind.as_str() {
            "task-sent" => &[Sample::In],
            "task-started" => &[Sample::Waited(event.waited.unwrap_or_default())],
            "task-succeeded" => &[Sample::Out, Sample::Ran(event.runtime.unwrap_or_default())],
            "task-failed" | "task-revoked" | "task-expired" => &[Sample::Out],
            _ => &[],
        };
        let span = self.span;
        for sample in samples {
            self.windows
                .entry(queue.clone())
                .or_insert_with(|| Window::new(span))
                .push(now, *sample);
        }
        if let Some(outcome) = ["task-failed", "task-retried", "task-lost"]
            .iter()
            .find(|kind| **kind == event.kind)
            .and_then(|kind| kind.strip_prefix("task-"))
        {
            self.failures.push_front(Failure {
                at: event.at,
                outcome: outcome.to_owned(),
                task_id: event.task_id.clone().unwrap_or_default(),
                task_name: event.task_name.clone().unwrap_or_default(),
                queue,
                attempt: event.attempt,
                error: event
                    .error
                    .as_ref()
                    .map_or_else(String::new, |e| format!("{}: {}", e.kind, e.message)),
            });
            self.failures.truncate(FAILURES_KEPT);
        }
    }

    /// Whether `text` passes the filter.
    fn shown(&self, text: &str) -> bool {
        text.contains(self.filter.as_str())
    }

    /// The queues pane's rows: every queue of the snapshot and every queue with recent
    /// traffic (a queue that drained still has rates), filtered and sorted.
    pub(crate) fn queue_rows(&self, now: Instant) -> Vec<QueueRow> {
        let listed = self.snapshot.as_ref().map_or(&[][..], |s| &s.queues[..]);
        let names: BTreeSet<&str> = listed
            .iter()
            .map(|q| q.queue.as_str())
            .chain(self.windows.keys().map(String::as_str))
            .filter(|name| self.shown(name))
            .collect();
        let mut rows: Vec<QueueRow> = names
            .into_iter()
            .map(|name| QueueRow {
                counts: listed
                    .iter()
                    .find(|q| q.queue == name)
                    .cloned()
                    .unwrap_or_else(|| QueueStats {
                        queue: name.to_owned(),
                        ..QueueStats::default()
                    }),
                rates: self
                    .windows
                    .get(name)
                    .map(|w| w.rates(now, self.watching_since))
                    .unwrap_or_default(),
                oldest: self.snapshot.as_ref().and_then(|s| {
                    let enqueued = s.heads.get(name)?;
                    s.taken_at.duration_since(*enqueued).ok()
                }),
            })
            .collect();
        let (column, reversed) = self.queue_sort;
        rows.sort_by(|a, b| {
            let order = match column {
                QueueColumn::Name => a.counts.queue.cmp(&b.counts.queue),
                // Numbers sort biggest first, as in `top`.
                QueueColumn::Ready => b.counts.ready.cmp(&a.counts.ready),
                QueueColumn::In => b.rates.in_per_sec.total_cmp(&a.rates.in_per_sec),
                QueueColumn::Out => b.rates.out_per_sec.total_cmp(&a.rates.out_per_sec),
                QueueColumn::Wait => b.rates.wait_p50.cmp(&a.rates.wait_p50),
                QueueColumn::Oldest => b.oldest.cmp(&a.oldest),
                QueueColumn::Dead => b.counts.dead.cmp(&a.counts.dead),
            };
            let order = order.then_with(|| a.counts.queue.cmp(&b.counts.queue));
            if reversed {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// The workers pane's rows: those whose id or queues pass the filter, sorted.
    pub(crate) fn worker_rows(&self) -> Vec<&WorkerInfo> {
        let listed = self.snapshot.as_ref().map_or(&[][..], |s| &s.workers[..]);
        let mut rows: Vec<&WorkerInfo> = listed
            .iter()
            .filter(|w| self.shown(&w.worker_id) || w.queues.iter().any(|q| self.shown(q)))
            .collect();
        let (column, reversed) = self.worker_sort;
        rows.sort_by(|a, b| {
            let order = match column {
                WorkerColumn::Id => a.worker_id.cmp(&b.worker_id),
                WorkerColumn::Busy => b.running.len().cmp(&a.running.len()),
                WorkerColumn::Processed => b.processed.cmp(&a.processed),
                // Longest unheard first: the worker in trouble on top.
                WorkerColumn::Seen => a.last_seen.cmp(&b.last_seen),
            };
            let order = order.then_with(|| a.worker_id.cmp(&b.worker_id));
            if reversed {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// The failures pane's rows, newest first: those whose task name, queue or id pass the
    /// filter.
    pub(crate) fn failure_rows(&self) -> Vec<&Failure> {
        self.failures
            .iter()
            .filter(|f| self.shown(&f.task_name) || self.shown(&f.queue) || self.shown(&f.task_id))
            .collect()
    }

    /// How many rows `pane` shows now.
    pub(crate) fn row_count(&self, pane: Pane) -> usize {
        match pane {
            // The rows' set does not depend on the time, only their numbers do.
            Pane::Queues => self.queue_rows(self.watching_since).len(),
            Pane::Workers => self.worker_rows().len(),
            Pane::Failures => self.failure_rows().len(),
        }
    }

    /// The selected row of `pane`, kept within its rows (which shrink under a filter).
    pub(crate) fn selected_in(&self, pane: Pane) -> usize {
        let count = self.row_count(pane);
        self.selected[pane as usize].min(count.saturating_sub(1))
    }

    /// The task Enter opens: the selected failure's, or the first one the selected worker
    /// runs.
    pub(crate) fn task_to_open(&self) -> Option<String> {
        match self.focus {
            Pane::Queues => None,
            Pane::Workers => {
                let rows = self.worker_rows();
                let worker = rows.get(self.selected_in(Pane::Workers))?;
                worker.running.first().map(|(id, _)| id.clone())
            }
            Pane::Failures => {
                let rows = self.failure_rows();
                let failure = rows.get(self.selected_in(Pane::Failures))?;
                Some(failure.task_id.clone())
            }
        }
    }

    /// Shows the broker's answer about a task, unless the user closed its pane meanwhile or
    /// opened another task.
    pub(crate) fn show_detail(&mut self, detail: TaskDetail) {
        let waiting_for_it =
            matches!(&self.detail, Some(Detail::Loading(id)) if *id == detail.task_id);
        if waiting_for_it {
            self.detail = Some(Detail::Loaded(Box::new(detail)));
        }
    }
}
