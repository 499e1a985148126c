//! Operator views: paging through a queue's tasks by state.

use std::ops::Bound::{Excluded, Unbounded};

use super::command::Timer;
use super::lease_order::{ReadyCursor, ReadyWalk};
use super::queues::Queue;
use super::task::{TaskMeta, TaskState};
use super::{Engine, EngineError};

/// Most tasks one page may scan before it returns, so a sparse listing cannot hold the engine.
const SCAN_BUDGET: usize = 100_000;

/// Where a listing resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageToken {
    /// After the last task listed by due time or by key: its `(due_ms, key)` (due time 0 when
    /// listed by key).
    After(u64, u64),
    /// A READY listing's place in the lease order of its first page.
    Ready(ReadyCursor),
}

/// How a READY token starts, so it cannot be mistaken for an `After` one.
const READY_PREFIX: &str = "r.";

impl PageToken {
    /// The token as sent to clients: `due.key`, or `r.now.seq0.….seq9` for READY.
    pub fn encode(self) -> String {
        match self {
            Self::After(due, key) => format!("{due}.{key}"),
            Self::Ready(cursor) => {
                let seqs = cursor.next_seq.map(|seq| seq.to_string()).join(".");
                format!("{READY_PREFIX}{}.{seqs}", cursor.now_ms)
            }
        }
    }

    /// Parses a token from `encode`.
    ///
    /// # Errors
    /// [`EngineError::InvalidArgument`] when the text is not a token this broker issued.
    pub fn decode(text: &str) -> Result<Self, EngineError> {
        let invalid = || bad_token(format!("{text:?} is not a page token"));
        let (ready, body) = match text.strip_prefix(READY_PREFIX) {
            Some(body) => (true, body),
            None => (false, text),
        };
        let numbers = body
            .split('.')
            .map(str::parse)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| invalid())?;
        match (ready, numbers.as_slice()) {
            (false, &[due, key]) => Ok(Self::After(due, key)),
            (true, [now_ms, seqs @ ..]) => Ok(Self::Ready(ReadyCursor {
                now_ms: *now_ms,
                next_seq: seqs.try_into().map_err(|_| invalid())?,
            })),
            _ => Err(invalid()),
        }
    }
}

/// A refused page token, with what to do instead.
fn bad_token(why: String) -> EngineError {
    EngineError::InvalidArgument {
        field: "page_token",
        message: format!(
            "{why}; pass next_page_token unchanged, with the queue and state it was listed with"
        ),
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

impl Page {
    fn empty() -> Self {
        Self {
            tasks: Vec::new(),
            next: None,
        }
    }
}

impl Engine {
    /// A page of the tasks of `queue` in `state`. READY tasks come in the order successive
    /// leases at `now_ms` would hand them out (priority aging included); later pages keep the
    /// first page's time, so one listing is one order. SCHEDULED and RETRYING tasks come by due
    /// time, FAILED and every other state in enqueue order.
    ///
    /// # Errors
    /// [`EngineError::InvalidArgument`] for a token of a listing of another state.
    pub fn list(
        &self,
        queue: &str,
        state: TaskState,
        after: Option<PageToken>,
        page_size: usize,
        now_ms: u64,
    ) -> Result<Page, EngineError> {
        let Some(q) = self.queues.get(queue) else {
            return Ok(Page::empty());
        };
        let other_listing = || {
            bad_token(format!(
                "the token is not from a listing of {state:?} tasks"
            ))
        };
        if state == TaskState::Ready {
            let cursor = match after {
                None => ReadyCursor::start(now_ms),
                Some(PageToken::Ready(cursor)) => cursor,
                Some(PageToken::After(..)) => return Err(other_listing()),
            };
            return Ok(self.ready_page(q, cursor, page_size));
        }
        let from = match after {
            None => None,
            Some(PageToken::After(due, key)) => Some((due, key)),
            Some(PageToken::Ready(_)) => return Err(other_listing()),
        };
        Ok(self.page_not_ready(queue, q, state, from, page_size))
    }

    /// A page of tasks not READY: by due time for SCHEDULED and RETRYING, else by key, after
    /// `from` (`(due_ms, key)` of the last task listed).
    fn page_not_ready(
        &self,
        queue: &str,
        q: &Queue,
        state: TaskState,
        from: Option<(u64, u64)>,
        page_size: usize,
    ) -> Page {
        let matches = |m: &&TaskMeta| &*m.queue == queue && m.state == state;
        match state {
            TaskState::Scheduled | TaskState::Retrying => {
                let iter = self
                    .timers
                    .after(Timer::Due, from.unwrap_or((0, 0)))
                    .filter_map(|&(due, key)| self.tasks.get(&key).map(|m| (due, &**m)));
                page_of(iter, matches, page_size, |m| {
                    PageToken::After(m.due_ms, m.key)
                })
            }
            TaskState::Failed => {
                let start = from.map_or(Unbounded, |(_, key)| Excluded(key));
                let iter = q
                    .dead
                    .range((start, Unbounded))
                    .filter_map(|key| self.tasks.get(key).map(|m| (*key, &**m)));
                page_of(iter, matches, page_size, |m| PageToken::After(0, m.key))
            }
            _ => {
                let start = from.map_or(Unbounded, |(_, key)| Excluded(key));
                let iter = self
                    .tasks
                    .range((start, Unbounded))
                    .map(|(key, m)| (*key, &**m));
                page_of(iter, matches, page_size, |m| PageToken::After(0, m.key))
            }
        }
    }

    /// A page of READY tasks in lease order from `cursor`.
    fn ready_page(&self, queue: &Queue, cursor: ReadyCursor, page_size: usize) -> Page {
        let aging_ms = self.config.priority_aging_ms;
        let mut walk = ReadyWalk::new(queue, &self.tasks, cursor, aging_ms);
        let mut tasks = Vec::new();
        loop {
            let before = walk.cursor();
            let Some(meta) = walk.next_within(SCAN_BUDGET) else {
                let next = walk.cut_short().then(|| PageToken::Ready(walk.cursor()));
                return Page { tasks, next };
            };
            if tasks.len() == page_size {
                return Page {
                    tasks,
                    next: Some(PageToken::Ready(before)),
                };
            }
            tasks.push(meta.clone());
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
