//! Operator views: paging through a queue's tasks by state.

use std::ops::Bound::{Excluded, Unbounded};

use super::command::Timer;
use super::task::{TaskMeta, TaskState};
use super::{Engine, EngineError};

/// Most tasks one page may scan before it returns, so a sparse listing cannot hold the engine.
const SCAN_BUDGET: usize = 100_000;

/// Where a listing resumes: two numbers whose meaning depends on the state listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken(pub u64, pub u64);

impl PageToken {
    /// The token as sent to clients.
    pub fn encode(self) -> String {
        format!("{}.{}", self.0, self.1)
    }

    /// Parses a token from `encode`.
    ///
    /// # Errors
    /// [`EngineError::InvalidArgument`] when the text is not a token this broker issued.
    pub fn decode(text: &str) -> Result<Self, EngineError> {
        let invalid = || EngineError::InvalidArgument {
            field: "page_token",
            message: format!("{text:?} is not a page token; pass next_page_token unchanged"),
        };
        let (a, b) = text.split_once('.').ok_or_else(invalid)?;
        Ok(Self(
            a.parse().map_err(|_| invalid())?,
            b.parse().map_err(|_| invalid())?,
        ))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The tasks, in listing order.
    pub tasks: Vec<TaskMeta>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<PageToken>,
}

impl Engine {
    /// A page of the tasks of `queue` in `state`: READY in lease order, SCHEDULED and RETRYING
    /// by due time, FAILED and every other state in enqueue order.
    pub fn list(
        &self,
        queue: &str,
        state: TaskState,
        after: Option<PageToken>,
        page_size: usize,
    ) -> Page {
        let Some(q) = self.queues.get(queue) else {
            return Page {
                tasks: Vec::new(),
                next: None,
            };
        };
        let matches = |m: &&TaskMeta| &*m.queue == queue && m.state == state;
        match state {
            TaskState::Ready => {
                let mut tasks = Vec::new();
                for (priority, lane) in q.ready.iter().enumerate().rev() {
                    let start = match after {
                        Some(PageToken(p, _)) if priority as u64 > p => continue,
                        Some(PageToken(p, seq)) if priority as u64 == p => seq + 1,
                        _ => 0,
                    };
                    // The lane and the tasks a limit parked, merged in ready order.
                    let inverse = 9 - u8::try_from(priority).unwrap_or(9);
                    let in_lane = lane
                        .range(lane.partition_point(|&(s, _)| s < start)..)
                        .copied();
                    let parked = q
                        .parked
                        .range((inverse, start, 0)..(inverse, u64::MAX, u64::MAX))
                        .map(|&(_, seq, key)| (seq, key));
                    for (seq, key) in merged(in_lane, parked) {
                        let live = self
                            .tasks
                            .get(&key)
                            .filter(|m| m.state == TaskState::Ready && m.ready_seq == seq);
                        if let Some(meta) = live {
                            if tasks.len() == page_size {
                                let last: &TaskMeta = tasks.last().expect("invariant: page full");
                                let token = PageToken(u64::from(last.priority), last.ready_seq);
                                return Page {
                                    tasks,
                                    next: Some(token),
                                };
                            }
                            tasks.push((**meta).clone());
                        }
                    }
                }
                Page { tasks, next: None }
            }
            TaskState::Scheduled | TaskState::Retrying => {
                let from = after.map_or((0, 0), |t| (t.0, t.1));
                let iter = self
                    .timers
                    .after(Timer::Due, from)
                    .filter_map(|&(due, key)| self.tasks.get(&key).map(|m| (due, &**m)));
                page_of(iter, matches, page_size, |m| PageToken(m.due_ms, m.key))
            }
            TaskState::Failed => {
                let start = after.map_or(Unbounded, |t| Excluded(t.1));
                let iter = q
                    .dead
                    .range((start, Unbounded))
                    .filter_map(|key| self.tasks.get(key).map(|m| (*key, &**m)));
                page_of(iter, matches, page_size, |m| PageToken(0, m.key))
            }
            _ => {
                let start = after.map_or(Unbounded, |t| Excluded(t.1));
                let iter = self
                    .tasks
                    .range((start, Unbounded))
                    .map(|(key, m)| (*key, &**m));
                page_of(iter, matches, page_size, |m| PageToken(0, m.key))
            }
        }
    }
}

/// Collects up to `page_size` matching tasks and the token after the last one.
fn page_of<'a, K>(
    iter: impl Iterator<Item = (K, &'a TaskMeta)>,
    matches: impl Fn(&&TaskMeta) -> bool,
    page_size: usize,
    token: impl Fn(&TaskMeta) -> PageToken,
) -> Page {
    let mut tasks = Vec::new();
    let mut last_seen = None;
    for (scanned, (_, meta)) in iter.enumerate() {
        if scanned >= SCAN_BUDGET {
            return Page {
                tasks,
                next: last_seen.map(&token),
            };
        }
        if matches(&meta) {
            if tasks.len() == page_size {
                return Page {
                    next: tasks.last().map(&token),
                    tasks,
                };
            }
            tasks.push(meta.clone());
        }
        last_seen = Some(meta);
    }
    Page { tasks, next: None }
}

/// Two `(seq, key)` runs, each in order, as one in order.
fn merged(
    a: impl Iterator<Item = (u64, u64)>,
    b: impl Iterator<Item = (u64, u64)>,
) -> impl Iterator<Item = (u64, u64)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}
