//! Rate limits, enforced when leases are granted: a token bucket per task name or queue, filled
//! by the time of the commands (no clock is read), so every worker shares one limit.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// What a limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitScope {
    /// Every task of this name.
    Task(String),
    /// Every task of this queue.
    Queue(String),
}

impl fmt::Display for LimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task(name) => write!(f, "task:{name}"),
            Self::Queue(name) => write!(f, "queue:{name}"),
        }
    }
}

impl std::str::FromStr for LimitScope {
    type Err = String;

    /// `task:NAME` or `queue:NAME`, as [`fmt::Display`] writes it.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some(("task", name)) => Ok(Self::Task(name.to_string())),
            Some(("queue", name)) => Ok(Self::Queue(name.to_string())),
            _ => Err(format!("{text:?} is not task:NAME or queue:NAME")),
        }
    }
}

/// `count` tasks per `per_ms`, with up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tasks per period.
    pub count: u32,
    /// The period in ms.
    pub per_ms: u64,
    /// Tasks that may start at once after a quiet spell (the bucket's size); at least 1.
    pub burst: u32,
}

impl RateLimit {
    /// Parses Celery's syntax: `10/s`, `100/m`, `1000/h` (or `/d`), with `burst` (0: one
    /// period's worth, at least 1).
    ///
    /// # Errors
    /// What is wrong with the text.
    pub fn parse(text: &str, burst: u32) -> Result<Self, String> {
        let (count, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a rate: write it as 10/s, 100/m or 1000/h"))?;
        let count: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| format!("{text:?}: the count must be a whole number above 0"))?;
        let per_ms = match unit.trim() {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?}; use s, m, h or d"
                ))
            }
        };
        Ok(Self {
            count,
            per_ms,
            burst: if burst == 0 { count } else { burst },
        })
    }
}

/// A limit's bucket. Integer units, so filling never drifts: a task costs `per_ms` units and
/// every ms adds `count` units, up to `burst` tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bucket {
    limit: RateLimit,
    units: u64,
    at_ms: u64,
}

impl Bucket {
    fn new(limit: RateLimit, now_ms: u64) -> Self {
        Self {
            limit,
            units: u64::from(limit.burst).saturating_mul(limit.per_ms),
            at_ms: now_ms,
        }
    }

    fn fill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        // Up to `burst` whole tokens; the part of the next one is kept, so a bucket that is
        // full at a token boundary does not lose time and the rate holds exactly.
        let cap = u64::from(self.limit.burst)
            .saturating_mul(self.limit.per_ms)
            .saturating_add(self.limit.per_ms - 1);
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(u64::from(self.limit.count)))
            .min(cap);
        self.at_ms = self.at_ms.max(now_ms);
    }

    fn has_token(&mut self, now_ms: u64) -> bool {
        self.fill(now_ms);
        self.units >= self.limit.per_ms
    }

    fn take(&mut self) {
        self.units = self.units.saturating_sub(self.limit.per_ms);
    }

    /// When the next token is there.
    fn next_token_ms(&self) -> u64 {
        let missing = self.limit.per_ms.saturating_sub(self.units);
        let count = u64::from(self.limit.count).max(1);
        self.at_ms + missing.div_ceil(count)
    }
}

/// Why a READY task was held back at its last lease attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The limit that had no token.
    pub scope: LimitScope,
    /// When it has the next one, unix ms.
    pub until_ms: u64,
}

/// Every limit, and the queues whose tasks wait for a token.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    buckets: HashMap<LimitScope, Bucket>,
    /// Queues with tasks held back by a limit, to wake when tokens come.
    pub(crate) throttled: HashSet<Arc<str>>,
    /// READY tasks held back, by key (soft state: shown in listings).
    pub(crate) held: HashMap<u64, Held>,
}

impl Limits {
    /// Sets (or with `None`, removes) the limit of `scope`. A changed limit starts full.
    pub(crate) fn set(&mut self, scope: LimitScope, limit: Option<RateLimit>, now_ms: u64) {
        match limit {
            Some(limit) => {
                self.buckets.insert(scope, Bucket::new(limit, now_ms));
            }
            None => {
                self.buckets.remove(&scope);
            }
        }
    }

    /// Every limit, by scope.
    pub(crate) fn all(&self) -> Vec<(LimitScope, RateLimit)> {
        let mut all: Vec<(LimitScope, RateLimit)> = self
            .buckets
            .iter()
            .map(|(scope, bucket)| (scope.clone(), bucket.limit))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Whether nothing is limited (the common case: leases skip every check).
    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Whether the queue's own limit has a token now; if not, when it will.
    pub(crate) fn queue_open(&mut self, queue: &str, now_ms: u64) -> Result<(), Held> {
        let scope = LimitScope::Queue(queue.to_string());
        match self.buckets.get_mut(&scope) {
            Some(bucket) => {
                if bucket.has_token(now_ms) {
                    Ok(())
                } else {
                    let until_ms = bucket.next_token_ms();
                    Err(Held { scope, until_ms })
                }
            }
            None => Ok(()),
        }
    }

    /// Takes a token for a task of `name` in `queue` if both limits have one; else when the
    /// blocking one will.
    pub(crate) fn admit(&mut self, name: &str, queue: &str, now_ms: u64) -> Result<(), Held> {
        let task = LimitScope::Task(name.to_string());
        if let Some(bucket) = self.buckets.get_mut(&task) {
            if !bucket.has_token(now_ms) {
                let until_ms = bucket.next_token_ms();
                return Err(Held {
                    scope: task,
                    until_ms,
                });
            }
        }
        self.queue_open(queue, now_ms)?;
        for scope in [task, LimitScope::Queue(queue.to_string())] {
            if let Some(bucket) = self.buckets.get_mut(&scope) {
                bucket.take();
            }
        }
        Ok(())
    }
}

impl super::Engine {
    /// Puts back stored rate limits after a restart (their buckets start full).
    pub fn restore_limits(&mut self, stored: impl IntoIterator<Item = (LimitScope, RateLimit)>) {
        for (scope, limit) in stored {
            self.limits.set(scope, Some(limit), 0);
        }
    }

    /// Why the READY task `key` was held back at its last lease attempt, if a limit did.
    pub fn held(&self, key: u64) -> Option<&Held> {
        self.limits.held.get(&key)
    }

    /// Every rate limit, by scope.
    pub fn rate_limits(&self) -> Vec<(LimitScope, RateLimit)> {
        self.limits.all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn celery_rates_parse_and_bad_ones_say_why() {
        let rate = RateLimit::parse("10/s", 0).unwrap();
        assert_eq!((rate.count, rate.per_ms, rate.burst), (10, 1_000, 10));
        assert_eq!(RateLimit::parse("100/m", 5).unwrap().burst, 5);
        assert_eq!(RateLimit::parse("1000/h", 0).unwrap().per_ms, 3_600_000);
        assert!(RateLimit::parse("10/x", 0)
            .unwrap_err()
            .contains("unknown unit"));
        assert!(RateLimit::parse("0/s", 0).unwrap_err().contains("above 0"));
        assert!(RateLimit::parse("ten", 0).unwrap_err().contains("10/s"));
    }

    #[test]
    fn a_bucket_admits_its_rate_exactly_after_the_burst() {
        let mut limits = Limits::default();
        limits.set(
            LimitScope::Task("t".into()),
            Some(RateLimit::parse("3/s", 1).unwrap()),
            0,
        );
        // One at once (the burst), then one every 333.3 ms: 30 in the next 10 s.
        let mut admitted = 0;
        for now in 0..=10_000 {
            if limits.admit("t", "q", now).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 31);
        assert_eq!(
            limits.admit("t", "q", 10_000).map_err(|h| h.until_ms),
            Err(10_334)
        );
        assert!(
            limits.admit("other", "q", 10_000).is_ok(),
            "other names are not limited"
        );
    }

    #[test]
    fn a_queue_limit_covers_every_task_of_the_queue() {
        let mut limits = Limits::default();
        limits.set(
            LimitScope::Queue("q".into()),
            Some(RateLimit::parse("1/s", 1).unwrap()),
            0,
        );
        assert!(limits.admit("a", "q", 0).is_ok());
        let held = limits.admit("b", "q", 1).unwrap_err();
        assert_eq!(
            (held.scope.to_string(), held.until_ms),
            ("queue:q".into(), 1_000)
        );
        assert!(limits.admit("b", "other", 1).is_ok());
    }
}
