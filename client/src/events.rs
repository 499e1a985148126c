//! The event stream (`Admin.WatchEvents`): watching events live or from a sequence number, and
//! a task's history.

use std::time::{Duration, SystemTime};

use stalk_proto::v1;
use stalk_proto::v1::watch_events_response::Marker;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::status::TaskFailure;
use crate::wire::{non_empty, time_from_unix_ms};

/// What to watch: where to start and which events. Empty filter lists take every value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Start at this event number (retained events first); `None`: only new events.
    pub from_seq: Option<u64>,
    /// Event types by name (`task-succeeded`, `worker-online`, …).
    pub types: Vec<String>,
    /// Queues.
    pub queues: Vec<String>,
    /// Task names.
    pub task_names: Vec<String>,
    /// Workers.
    pub workers: Vec<String>,
    /// Task ids.
    pub task_ids: Vec<String>,
    /// End once the retained events were sent, instead of following live ones.
    pub stop_at_end: bool,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its number: unique and increasing.
    pub seq: u64,
    /// Its type's name (`task-started`).
    pub kind: String,
    /// When it happened.
    pub at: Option<SystemTime>,
    /// The task, for task events.
    pub task_id: Option<String>,
    /// The task's name.
    pub task_name: Option<String>,
    /// The task's queue (or the queue paused or resumed).
    pub queue: Option<String>,
    /// Attempts started so far.
    pub attempt: u32,
    /// The task's state after the event.
    pub state: Option<TaskState>,
    /// The worker, for worker events.
    pub worker: Option<String>,
    /// When a SCHEDULED or RETRYING task becomes ready.
    pub due_at: Option<SystemTime>,
    /// How long the attempt that ended ran (succeeded, failed, retried).
    pub runtime: Option<Duration>,
    /// A started attempt's wait since its task became ready.
    pub waited: Option<Duration>,
    /// Why a task failed, retried, was lost or revoked.
    pub error: Option<TaskFailure>,
    /// A heartbeat's running tasks.
    pub active: u32,
    /// A heartbeat's tasks completed since the worker started.
    pub processed: u64,
    /// Free text (which schedule or limit, why a worker left).
    pub note: Option<String>,
}

impl Event {
    fn from_wire(event: v1::Event) -> Result<Self, ClientError> {
        let state = match v1::TaskState::try_from(event.state) {
            Ok(v1::TaskState::Unspecified) => None,
            _ => Some(TaskState::from_wire(event.state)?),
        };
        let ended = [
            v1::EventType::TaskSucceeded,
            v1::EventType::TaskFailed,
            v1::EventType::TaskRetried,
        ]
        .iter()
        .any(|t| *t as i32 == event.r#type);
        let started = event.r#type == v1::EventType::TaskStarted as i32;
        Ok(Self {
            seq: event.seq,
            kind: event.type_name,
            at: time_from_unix_ms(event.at_unix_ms),
            task_id: non_empty(event.task_id),
            task_name: non_empty(event.task_name),
            queue: non_empty(event.queue),
            attempt: event.attempt,
            state,
            worker: non_empty(event.worker),
            due_at: time_from_unix_ms(event.due_at_unix_ms),
            runtime: (ended && event.runtime_ms > 0)
                .then(|| Duration::from_millis(event.runtime_ms)),
            waited: started.then(|| Duration::from_millis(event.waited_ms)),
            error: event.error.map(TaskFailure::from),
            active: event.active,
            processed: event.processed,
            note: non_empty(event.note),
        })
    }
}

/// What a watch yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// An event the query takes (boxed: it is far larger than the other items).
    Event(Box<Event>),
    /// Every retained event asked for was sent; live ones follow from `next_seq` on.
    Live {
        /// The next event's number, at least.
        next_seq: u64,
    },
    /// The watch fell behind the live events; the broker goes on from its stored events at
    /// `resume_from`, skipping nothing.
    Lagged {
        /// Where it goes on from.
        resume_from: u64,
    },
    /// The events asked for were removed by retention; the watch ends. Watch again from
    /// `oldest_seq` to go on (accepting the gap).
    TooOld {
        /// The number asked for (or reached).
        asked_seq: u64,
        /// The oldest event the broker still has.
        oldest_seq: u64,
    },
}

/// An open watch ([`Client::watch_events`]).
#[derive(Debug)]
pub struct EventWatch {
    stream: tonic::Streaming<v1::WatchEventsResponse>,
    /// The rest of the last message: its events, then its marker.
    queued: std::collections::VecDeque<WatchItem>,
}

impl EventWatch {
    /// The next item; `None` when the stream ended (after [`WatchItem::TooOld`], at the end of
    /// a `stop_at_end` query, or when the broker shut down).
    ///
    /// # Errors
    /// [`ClientError::Status`] when the broker ends the stream with an error;
    /// [`ClientError::Protocol`] for an item this client cannot read.
    pub async fn next(&mut self) -> Result<Option<WatchItem>, ClientError> {
        loop {
            if let Some(item) = self.queued.pop_front() {
                return Ok(Some(item));
            }
            let Some(message) = self.stream.message().await? else {
                return Ok(None);
            };
            for event in message.events {
                let event = Event::from_wire(event)?;
                self.queued.push_back(WatchItem::Event(Box::new(event)));
            }
            let marker = match message.marker {
                Some(Marker::Live(live)) => WatchItem::Live {
                    next_seq: live.next_seq,
                },
                Some(Marker::Lagged(lagged)) => WatchItem::Lagged {
                    resume_from: lagged.resume_from,
                },
                Some(Marker::TooOld(too_old)) => WatchItem::TooOld {
                    asked_seq: too_old.asked_seq,
                    oldest_seq: too_old.oldest_seq,
                },
                // Events only, or a marker a newer broker added: nothing to act on.
                None => continue,
            };
            self.queued.push_back(marker);
        }
    }
}

impl Client {
    /// Watches events: the retained ones from `query.from_seq` on, then live ones (unless
    /// `query.stop_at_end`), those the query's filters take.
    ///
    /// # Errors
    /// [`ClientError::Status`]: `INVALID_ARGUMENT` naming an unknown type or a bad filter.
    pub async fn watch_events(&self, query: EventQuery) -> Result<EventWatch, ClientError> {
        let request = v1::WatchEventsRequest {
            from_seq: query.from_seq,
            types: query.types,
            queues: query.queues,
            task_names: query.task_names,
            workers: query.workers,
            task_ids: query.task_ids,
            stop_at_end: query.stop_at_end,
        };
        let stream = self.admin().watch_events(request).await?.into_inner();
        Ok(EventWatch {
            stream,
            queued: std::collections::VecDeque::new(),
        })
    }

    /// A task's retained events, oldest first; `truncated` says whether retention removed
    /// events from the start of the log, so that the task's first ones may be missing.
    ///
    /// # Errors
    /// [`ClientError::Status`] for a malformed id.
    pub async fn task_history(&self, id: &str) -> Result<TaskHistory, ClientError> {
        let mut from_seq = 0;
        let mut truncated = false;
        loop {
            let mut watch = self
                .watch_events(EventQuery {
                    from_seq: Some(from_seq),
                    task_ids: vec![id.to_owned()],
                    stop_at_end: true,
                    ..EventQuery::default()
                })
                .await?;
            let mut events = Vec::new();
            let mut restart = None;
            while let Some(item) = watch.next().await? {
                match item {
                    WatchItem::Event(event) => events.push(*event),
                    WatchItem::TooOld { oldest_seq, .. } => restart = Some(oldest_seq),
                    WatchItem::Live { .. } | WatchItem::Lagged { .. } => {}
                }
            }
            match restart {
                // Retention removed the start of the log meanwhile: read from what is kept.
                Some(oldest) if oldest > from_seq => {
                    from_seq = oldest;
                    truncated = true;
                }
                _ => return Ok(TaskHistory { events, truncated }),
            }
        }
    }
}

/// A task's events ([`Client::task_history`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHistory {
    /// Oldest first.
    pub events: Vec<Event>,
    /// Retention removed events from the start of the log, so the task's first events may be
    /// missing.
    pub truncated: bool,
}
