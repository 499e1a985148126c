//! Events: what a monitor sees. The engine derives them from the changes it makes (a task's
//! transitions, leases, starts and enqueues), in the same [`Outcome`](super::Outcome) as the
//! writes, so the event stream cannot disagree with the state. The broker numbers them and
//! stores them with those writes; see `broker/events.rs`.

use std::sync::Arc;

use super::task::{TaskError, TaskMeta, TaskState};
use super::task_id::TaskId;

/// What happened.
// The discriminants are the stored and wire codes: never renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum EventKind {
    /// A task was created (READY, or SCHEDULED for its ETA).
    Sent = 1,
    /// A task waits for its ETA or a requeue delay.
    Scheduled = 2,
    /// A task became READY (its time came, its lease ended unstarted, its attempt was lost).
    Ready = 3,
    /// A task was leased: pushed to a worker's buffer (prefetched) or handed to a poller.
    Leased = 4,
    /// A worker started an attempt.
    Started = 5,
    /// An attempt succeeded.
    Succeeded = 6,
    /// A task failed for good (no retries left, fatal, or rejected).
    Failed = 7,
    /// A failed attempt waits out its retry backoff.
    Retried = 8,
    /// A task was revoked.
    Revoked = 9,
    /// A task's expiry passed before it ran.
    Expired = 10,
    /// A failed task entered its queue's dead letters.
    DeadLettered = 11,
    /// A dead letter was put back to READY.
    Replayed = 12,
    /// A started attempt was lost: its worker died or its lease ran out.
    Lost = 13,
    /// A worker session opened.
    WorkerOnline = 14,
    /// A worker reported it is alive, with its counts.
    WorkerHeartbeat = 15,
    /// A worker session ended (the note says why: clean, lost, timed out).
    WorkerOffline = 16,
    /// A schedule fired (the note names it).
    ScheduleFired = 17,
    /// A schedule missed slots (the note names it and how many).
    ScheduleMissed = 18,
    /// A limit was set or removed (the note names it).
    LimitChanged = 19,
    /// A queue was paused.
    QueuePaused = 20,
    /// A queue was resumed.
    QueueResumed = 21,
    /// A READY task was held back at a lease attempt by a rate limit or concurrency cap (the
    /// note names it; `due_ms` is when it has room, 0 when a running task must end first).
    Held = 22,
    /// A queue's own rate limit had no token for a lease attempt: the whole queue waits until
    /// `due_ms` (the note names the limit).
    QueueThrottled = 23,
    /// A workflow was created (`task_id` is its id; the note says how many tasks).
    WorkflowSubmitted = 24,
    /// Every task of a workflow finished (`task_id` is its id; `state` SUCCEEDED when every
    /// task did, else FAILED; the note says how many did not).
    WorkflowFinished = 25,
    /// A running task handed its work on to a replacement (its attempt's `runtime_ms` is
    /// set; the note says how many tasks replace it); it ends as they do.
    Replaced = 26,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 26] = [
        Self::Sent,
        Self::Scheduled,
        Self::Ready,
        Self::Leased,
        Self::Started,
        Self::Succeeded,
        Self::Failed,
        Self::Retried,
        Self::Revoked,
        Self::Expired,
        Self::DeadLettered,
        Self::Replayed,
        Self::Lost,
        Self::WorkerOnline,
        Self::WorkerHeartbeat,
        Self::WorkerOffline,
        Self::ScheduleFired,
        Self::ScheduleMissed,
        Self::LimitChanged,
        Self::QueuePaused,
        Self::QueueResumed,
        Self::Held,
        Self::QueueThrottled,
        Self::WorkflowSubmitted,
        Self::WorkflowFinished,
        Self::Replaced,
    ];

    /// The name users filter by and see: `task-sent`, `worker-online`, ….
    pub fn name(self) -> &'static str {
        match self {
            Self::Sent => "task-sent",
            Self::Scheduled => "task-scheduled",
            Self::Ready => "task-ready",
            Self::Leased => "task-leased",
            Self::Started => "task-started",
            Self::Succeeded => "task-succeeded",
            Self::Failed => "task-failed",
            Self::Retried => "task-retried",
            Self::Revoked => "task-revoked",
            Self::Expired => "task-expired",
            Self::DeadLettered => "task-dead-lettered",
            Self::Replayed => "task-replayed",
            Self::Lost => "task-lost",
            Self::WorkerOnline => "worker-online",
            Self::WorkerHeartbeat => "worker-heartbeat",
            Self::WorkerOffline => "worker-offline",
            Self::ScheduleFired => "schedule-fired",
            Self::ScheduleMissed => "schedule-missed",
            Self::LimitChanged => "limit-changed",
            Self::QueuePaused => "queue-paused",
            Self::QueueResumed => "queue-resumed",
            Self::Held => "task-held",
            Self::QueueThrottled => "queue-throttled",
            Self::WorkflowSubmitted => "workflow-submitted",
            Self::WorkflowFinished => "workflow-finished",
            Self::Replaced => "task-replaced",
        }
    }

    /// The kind named `name` (as [`EventKind::name`] gives it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The stable code used in stored records and on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The kind of a stored code.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// One event. Task events carry the task's id, name, queue and attempt; the other fields are
/// set where the kind has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its number in the stream: set by the broker when it stores the event (0 before).
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// When, unix ms.
    pub at_ms: u64,
    /// The task, for task events.
    pub task_id: Option<TaskId>,
    /// The task's name.
    pub task_name: Option<Arc<str>>,
    /// The task's queue (or the queue paused or resumed).
    pub queue: Option<Arc<str>>,
    /// Attempts started so far.
    pub attempt: u32,
    /// The task's state after the event.
    pub state: Option<TaskState>,
    /// The worker, for worker events and where known.
    pub worker: Option<Arc<str>>,
    /// When a SCHEDULED or RETRYING task becomes READY, unix ms; 0 otherwise.
    pub due_ms: u64,
    /// How long the attempt that ended ran (succeeded, failed, retried), ms.
    pub runtime_ms: u64,
    /// A started attempt's wait since its task became READY, ms.
    pub waited_ms: u64,
    /// Why a task failed, retried, was lost or revoked.
    pub error: Option<TaskError>,
    /// A heartbeat's running tasks.
    pub active: u32,
    /// A heartbeat's tasks completed since the worker started.
    pub processed: u64,
    /// Free text: why a worker went offline, which schedule or limit.
    pub note: Option<Arc<str>>,
}

impl Event {
    /// An event of `kind` at `at_ms` with nothing else set.
    pub fn new(kind: EventKind, at_ms: u64) -> Self {
        Self {
            seq: 0,
            kind,
            at_ms,
            task_id: None,
            task_name: None,
            queue: None,
            attempt: 0,
            state: None,
            worker: None,
            due_ms: 0,
            runtime_ms: 0,
            waited_ms: 0,
            error: None,
            active: 0,
            processed: 0,
            note: None,
        }
    }

    /// A task event for `meta` as it is now.
    pub(crate) fn of_task(kind: EventKind, meta: &TaskMeta, at_ms: u64) -> Self {
        let waits = matches!(meta.state, TaskState::Scheduled | TaskState::Retrying);
        Self {
            task_id: Some(meta.id.clone()),
            task_name: Some(meta.name.clone()),
            queue: Some(meta.queue.clone()),
            attempt: meta.attempts,
            state: Some(meta.state),
            due_ms: if waits { meta.due_ms } else { 0 },
            ..Self::new(kind, at_ms)
        }
    }

    /// The started event of `meta`'s attempt, which began at `at_ms`.
    pub(crate) fn started(meta: &TaskMeta, worker: Option<Arc<str>>, at_ms: u64) -> Self {
        Self {
            worker,
            waited_ms: at_ms.saturating_sub(meta.cold().ready_ms),
            ..Self::of_task(EventKind::Started, meta, at_ms)
        }
    }

    /// This event with a note.
    pub fn with_note(mut self, note: impl Into<Arc<str>>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Which events a watcher wants: each list that is not empty must contain the event's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Event kinds.
    pub kinds: Vec<EventKind>,
    /// Queues.
    pub queues: Vec<String>,
    /// Task names.
    pub task_names: Vec<String>,
    /// Workers.
    pub workers: Vec<String>,
    /// Task ids.
    pub task_ids: Vec<String>,
}

impl EventFilter {
    /// Whether the filter takes `event`.
    pub fn matches(&self, event: &Event) -> bool {
        fn takes(wanted: &[String], value: Option<&str>) -> bool {
            wanted.is_empty() || value.is_some_and(|v| wanted.iter().any(|w| w == v))
        }
        (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && takes(&self.queues, event.queue.as_deref())
            && takes(&self.task_names, event.task_name.as_deref())
            && takes(&self.workers, event.worker.as_deref())
            && (self.task_ids.is_empty()
                || event
                    .task_id
                    .as_ref()
                    .is_some_and(|id| self.task_ids.iter().any(|w| id.matches(w))))
    }
}

/// The events a transition from `from` to the task's state now makes; `ran_since` is when the
/// attempt that just ended started, if one ran.
pub(super) fn of_transition(
    from: TaskState,
    ran_since: Option<u64>,
    meta: &TaskMeta,
    at_ms: u64,
    out: &mut Vec<Event>,
) {
    let event = |kind| Event::of_task(kind, meta, at_ms);
    let ended = |kind| Event {
        error: meta.cold().error.clone(),
        runtime_ms: ran_since.map_or(0, |since| at_ms.saturating_sub(since)),
        ..event(kind)
    };
    match meta.state {
        TaskState::Succeeded => out.push(Event {
            error: None,
            ..ended(EventKind::Succeeded)
        }),
        TaskState::Failed => {
            out.push(ended(EventKind::Failed));
            out.push(event(EventKind::DeadLettered));
        }
        TaskState::Retrying => out.push(ended(EventKind::Retried)),
        TaskState::Scheduled => out.push(event(EventKind::Scheduled)),
        TaskState::Ready if from == TaskState::Failed => out.push(event(EventKind::Replayed)),
        TaskState::Ready => out.push(event(EventKind::Ready)),
        TaskState::Revoked => out.push(Event {
            error: meta.cold().error.clone(),
            ..event(EventKind::Revoked)
        }),
        TaskState::Expired => out.push(event(EventKind::Expired)),
        // Leases are granted outside `transition` (see `lease.rs`).
        TaskState::Leased => out.push(event(EventKind::Leased)),
        // A running task that replaced itself; a new workflow step's enqueue says it waits.
        TaskState::Waiting if from == TaskState::Leased => {
            let count = meta.cold().flow.as_ref().map_or(0, |f| f.missing());
            out.push(Event {
                note: Some(
                    format!("it waits for the results of {count} tasks of its replacement").into(),
                ),
                ..ended(EventKind::Replaced)
            });
        }
        TaskState::Waiting => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_takes_what_every_non_empty_list_names() {
        let event = Event {
            task_id: Some(TaskId::new("t-1")),
            queue: Some(Arc::from("mail")),
            task_name: Some(Arc::from("send")),
            ..Event::new(EventKind::Started, 1)
        };
        assert!(EventFilter::default().matches(&event));
        let by = |f: EventFilter| f.matches(&event);
        assert!(by(EventFilter {
            kinds: vec![EventKind::Started, EventKind::Sent],
            queues: vec!["mail".into()],
            task_ids: vec!["t-1".into()],
            ..EventFilter::default()
        }));
        assert!(!by(EventFilter {
            kinds: vec![EventKind::Sent],
            ..EventFilter::default()
        }));
        assert!(!by(EventFilter {
            task_names: vec!["other".into()],
            ..EventFilter::default()
        }));
        // A task event has no worker: a worker filter does not take it.
        assert!(!by(EventFilter {
            workers: vec!["w1".into()],
            ..EventFilter::default()
        }));
    }

    #[test]
    fn codes_match_the_wire_enum() {
        use stalk_proto::v1::EventType;
        assert_eq!(EventKind::Sent.code(), EventType::TaskSent as u32);
        assert_eq!(EventKind::Lost.code(), EventType::TaskLost as u32);
        assert_eq!(
            EventKind::QueueResumed.code(),
            EventType::QueueResumed as u32
        );
        assert_eq!(
            EventKind::QueueThrottled.code(),
            EventType::QueueThrottled as u32
        );
        assert_eq!(
            EventKind::WorkflowFinished.code(),
            EventType::WorkflowFinished as u32
        );
        assert_eq!(EventKind::Replaced.code(), EventType::TaskReplaced as u32);
        assert_eq!(EventKind::ALL.len(), 26);
    }

    #[test]
    fn kinds_round_trip_by_name_and_code() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.name()), Some(kind));
            assert_eq!(EventKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(EventKind::from_code(0), None);
        assert_eq!(EventKind::parse("task-exploded"), None);
    }
}
