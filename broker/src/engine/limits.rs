//! Limits, enforced when leases are granted: a rate (a token bucket filled by the time of the
//! commands, so every worker shares one) and a concurrency cap (at most N leases at once), per
//! task name or queue, either one for the whole scope or one per value of a header (keyed, for
//! example per `tenant`).
//!
//! A task a limit holds back is *parked* with the other tasks that limit holds for the same key,
//! out of its queue's lanes, so later leases pass over it at no cost and the tasks behind it go.
//! Parked tasks return to their lanes, in their old places, when the limit has room again: as
//! many as it has tokens when the next token comes, one per lease that ends under a cap, and all
//! when the limit changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use super::queues::Queues;
use super::task::{TaskMeta, TaskState};

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
            Some(("task", name)) if !name.is_empty() => Ok(Self::Task(name.to_string())),
            Some(("queue", name)) if !name.is_empty() => Ok(Self::Queue(name.to_string())),
            _ => Err(format!("{text:?} is not task:NAME or queue:NAME")),
        }
    }
}

/// A limit's identity: its scope, and the header whose every value gets a limit of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey {
    /// The tasks it covers.
    pub scope: LimitScope,
    /// Keyed: one limit per value of this header. Tasks without the header are not covered.
    pub per: Option<String>,
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.per {
            Some(header) => write!(f, "{} per {header}", self.scope),
            None => write!(f, "{}", self.scope),
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

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per_ms {
            1_000 => "s",
            60_000 => "m",
            3_600_000 => "h",
            _ => "d",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// What a limit allows; at least one of the two is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// Leases granted per period.
    pub rate: Option<RateLimit>,
    /// Leases held at once.
    pub concurrency: Option<u32>,
}

/// A limit as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitInfo {
    /// Its identity.
    pub key: LimitKey,
    /// What it allows.
    pub limit: Limit,
    /// Leases it counts now, over all its keys (0 without a concurrency cap).
    pub running: u64,
    /// READY tasks it holds back now.
    pub waiting: u64,
}

/// Why a READY task was held back at its last lease attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The limit, as people read it: `rate limit task:NAME`, `concurrency cap queue:Q per
    /// tenant=acme`.
    pub limit: String,
    /// When it has room again, unix ms; 0 when that is when a running task ends.
    pub until_ms: u64,
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
        let cap = self.full().saturating_add(self.limit.per_ms - 1);
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(u64::from(self.limit.count)))
            .min(cap);
        self.at_ms = self.at_ms.max(now_ms);
    }

    fn full(&self) -> u64 {
        u64::from(self.limit.burst).saturating_mul(self.limit.per_ms)
    }

    /// Whole tokens now.
    fn tokens(&mut self, now_ms: u64) -> u64 {
        self.fill(now_ms);
        self.units / self.limit.per_ms
    }

    fn take(&mut self) {
        self.units = self.units.saturating_sub(self.limit.per_ms);
    }

    /// When the bucket holds `n` tokens (if nothing takes one first).
    fn tokens_at_ms(&self, n: u64) -> u64 {
        let missing = n
            .saturating_mul(self.limit.per_ms)
            .saturating_sub(self.units);
        let count = u64::from(self.limit.count).max(1);
        self.at_ms + missing.div_ceil(count)
    }
}

/// One limit's state.
#[derive(Debug)]
struct LimitState {
    key: LimitKey,
    limit: Limit,
    /// Per key value ("" for an unkeyed limit); a keyed bucket that is full again is dropped.
    buckets: HashMap<Arc<str>, Bucket>,
    /// Leases counted per key value; entries at zero are dropped.
    running: HashMap<Arc<str>, u32>,
    /// Bucket count at which full buckets are swept out.
    sweep_at: usize,
}

const SWEEP_MIN: usize = 1024;

impl LimitState {
    fn new(key: LimitKey, limit: Limit) -> Self {
        Self {
            key,
            limit,
            buckets: HashMap::new(),
            running: HashMap::new(),
            sweep_at: SWEEP_MIN,
        }
    }

    /// The key value this limit counts `meta` under, if it covers the task.
    fn value_of(&self, meta: &TaskMeta, unkeyed: &Arc<str>) -> Option<Arc<str>> {
        match &self.key.per {
            None => Some(unkeyed.clone()),
            Some(header) => meta.header(header).cloned(),
        }
    }

    fn describe(&self, kind: &str, value: &str) -> String {
        match &self.key.per {
            Some(_) => format!("{kind} {}={value}", self.key),
            None => format!("{kind} {}", self.key),
        }
    }

    /// Whether a task counted under `value` may be leased now; if not, what holds it.
    fn check(&mut self, value: &Arc<str>, now_ms: u64) -> Result<(), (Held, Option<u64>)> {
        if let Some(rate) = self.limit.rate {
            if !self.buckets.contains_key(value) {
                self.sweep(now_ms);
                self.buckets
                    .insert(value.clone(), Bucket::new(rate, now_ms));
            }
            if let Some(bucket) = self.buckets.get_mut(value) {
                if bucket.tokens(now_ms) == 0 {
                    let until_ms = bucket.tokens_at_ms(1);
                    let limit = self.describe("rate limit", value);
                    return Err((Held { limit, until_ms }, Some(until_ms)));
                }
            }
        }
        if let Some(max) = self.limit.concurrency {
            let running = self.running.get(value).copied().unwrap_or(0);
            if running >= max {
                let limit = format!(
                    "{} ({running} of {max} running)",
                    self.describe("concurrency cap", value)
                );
                return Err((Held { limit, until_ms: 0 }, None));
            }
        }
        Ok(())
    }

    /// Drops keyed buckets that are full again (they hold nothing a new bucket would not), once
    /// there are many, so a limit per tenant does not grow with every tenant ever seen.
    fn sweep(&mut self, now_ms: u64) {
        if self.buckets.len() < self.sweep_at {
            return;
        }
        self.buckets.retain(|_, bucket| {
            bucket.fill(now_ms);
            bucket.units < bucket.full()
        });
        self.sweep_at = (self.buckets.len() * 2).max(SWEEP_MIN);
    }
}

/// Tasks one limit holds back for one key value, in lease order.
#[derive(Debug)]
struct Park {
    limit: u32,
    value: Arc<str>,
    /// `(9 - priority, ready_seq, key)`: highest priority first, then ready order.
    tasks: BTreeSet<(u8, u64, u64)>,
    /// When a `Limit` timer will look at it again, if one will.
    timer_at: Option<u64>,
}

/// A task a limit held back: where it was parked, and when to look again.
#[derive(Debug)]
pub(crate) struct Parked {
    /// The park it joined.
    pub(crate) park: u64,
    /// A `Limit` timer to set for the park, if its rate decides when it has room.
    pub(crate) timer_at: Option<u64>,
}

/// Why a task was not admitted.
#[derive(Debug)]
pub(crate) struct Blocked {
    limit: u32,
    value: Arc<str>,
    held: Held,
    token_at: Option<u64>,
}

/// A lease that ended under a cap: the park whose task may go now.
#[derive(Debug)]
pub(crate) struct Freed {
    /// The park of the limit and key value that has room, if tasks wait there.
    pub(crate) park: Option<u64>,
    /// The limit covers a whole queue: its throttled leasers look again.
    pub(crate) whole_queue: bool,
}

/// Every limit, the tasks they hold back, and the leases they count.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    by_key: BTreeMap<LimitKey, u32>,
    states: HashMap<u32, LimitState>,
    by_task: HashMap<Arc<str>, Vec<u32>>,
    by_queue: HashMap<Arc<str>, Vec<u32>>,
    next_id: u32,
    /// Leases counted by caps, by task key: `(limit, key value)`.
    charges: HashMap<u64, Vec<(u32, Arc<str>)>>,
    parks: HashMap<u64, Park>,
    park_of: HashMap<(u32, Arc<str>), u64>,
    /// Parked tasks, by task key: their park, and why (shown in listings).
    parked: HashMap<u64, (u64, Held)>,
    next_park: u64,
    /// Queues whose whole-queue limit has no room, to wake when it has.
    pub(crate) throttled: HashSet<Arc<str>>,
    unkeyed: Arc<str>,
}

/// What setting a limit changed.
#[derive(Debug)]
pub(crate) struct SetOutcome {
    /// The limit's id, if it exists now.
    pub(crate) id: Option<u32>,
    /// Its cap is new: the leases it covers must be counted.
    pub(crate) count_leases: bool,
    /// Parks of the limit: their tasks go back to their lanes.
    pub(crate) parks: Vec<u64>,
}

impl Limits {
    /// Sets (or with `None`, removes) a limit. A changed rate starts with a full bucket; a
    /// cap's count of running leases carries over.
    pub(crate) fn set(&mut self, key: LimitKey, limit: Option<Limit>) -> SetOutcome {
        let parks: Vec<u64> = match self.by_key.get(&key) {
            Some(&id) => self
                .parks
                .iter()
                .filter(|(_, park)| park.limit == id)
                .map(|(&park, _)| park)
                .collect(),
            None => Vec::new(),
        };
        let Some(limit) = limit.filter(|l| l.rate.is_some() || l.concurrency.is_some()) else {
            if let Some(id) = self.by_key.remove(&key) {
                self.states.remove(&id);
                self.forget_leases(id);
                let index = match &key.scope {
                    LimitScope::Task(name) => self.by_task.get_mut(name.as_str()),
                    LimitScope::Queue(name) => self.by_queue.get_mut(name.as_str()),
                };
                if let Some(ids) = index {
                    ids.retain(|&i| i != id);
                }
                self.by_task.retain(|_, ids| !ids.is_empty());
                self.by_queue.retain(|_, ids| !ids.is_empty());
            }
            return SetOutcome {
                id: None,
                count_leases: false,
                parks,
            };
        };
        if let Some(state) = self.by_key.get(&key).and_then(|id| self.states.get_mut(id)) {
            let had_cap = state.limit.concurrency.is_some();
            if state.limit.rate != limit.rate {
                state.buckets.clear();
            }
            state.limit = limit;
            let id = self.by_key.get(&key).copied();
            if limit.concurrency.is_none() {
                state.running.clear();
                if let Some(id) = id {
                    self.forget_leases(id);
                }
            }
            return SetOutcome {
                id,
                count_leases: !had_cap && limit.concurrency.is_some(),
                parks,
            };
        }
        self.next_id += 1;
        let id = self.next_id;
        let (index, name) = match &key.scope {
            LimitScope::Task(name) => (&mut self.by_task, name),
            LimitScope::Queue(name) => (&mut self.by_queue, name),
        };
        index.entry(Arc::from(name.as_str())).or_default().push(id);
        self.by_key.insert(key.clone(), id);
        self.states.insert(id, LimitState::new(key, limit));
        SetOutcome {
            id: Some(id),
            count_leases: limit.concurrency.is_some(),
            parks,
        }
    }

    /// Drops the leases limit `id` counted: its cap is gone, and a cap set again counts the
    /// running leases afresh.
    fn forget_leases(&mut self, id: u32) {
        self.charges.retain(|_, counted| {
            counted.retain(|(limit, _)| *limit != id);
            !counted.is_empty()
        });
    }

    /// Whether a limit has this key.
    pub(crate) fn contains(&self, key: &LimitKey) -> bool {
        self.by_key.contains_key(key)
    }

    /// Every limit, by key.
    pub(crate) fn all(&self) -> Vec<LimitInfo> {
        self.by_key
            .iter()
            .filter_map(|(key, id)| {
                let state = self.states.get(id)?;
                Some(LimitInfo {
                    key: key.clone(),
                    limit: state.limit,
                    running: state.running.values().map(|&n| u64::from(n)).sum(),
                    waiting: self
                        .parks
                        .values()
                        .filter(|park| park.limit == *id)
                        .map(|park| park.tasks.len() as u64)
                        .sum(),
                })
            })
            .collect()
    }

    /// Whether nothing is limited (the common case: leases skip every check).
    pub(crate) fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The limits that cover tasks of `name` in `queue`.
    fn covering(&self, name: &str, queue: &str) -> impl Iterator<Item = u32> + '_ {
        let by_task = self.by_task.get(name).into_iter().flatten();
        let by_queue = self.by_queue.get(queue).into_iter().flatten();
        by_task.chain(by_queue).copied()
    }

    /// Whether the queue's own unkeyed limits have room now; if not, what holds it and when a
    /// token comes (`None`: when a lease ends).
    pub(crate) fn queue_open(
        &mut self,
        queue: &str,
        now_ms: u64,
    ) -> Result<(), (Held, Option<u64>)> {
        let unkeyed = self.unkeyed.clone();
        for id in self.by_queue.get(queue).into_iter().flatten() {
            if let Some(state) = self.states.get_mut(id) {
                if state.key.per.is_none() {
                    state.check(&unkeyed, now_ms)?;
                }
            }
        }
        Ok(())
    }

    /// Admits the task `meta` for a lease if every limit covering it has room, taking a token
    /// and counting the lease; else says which limit holds it back.
    pub(crate) fn admit(&mut self, meta: &TaskMeta, now_ms: u64) -> Result<(), Blocked> {
        let unkeyed = self.unkeyed.clone();
        let ids: Vec<u32> = self.covering(&meta.name, &meta.queue).collect();
        let mut covered = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(state) = self.states.get_mut(&id) else {
                continue;
            };
            let Some(value) = state.value_of(meta, &unkeyed) else {
                continue;
            };
            if let Err((held, token_at)) = state.check(&value, now_ms) {
                return Err(Blocked {
                    limit: id,
                    value,
                    held,
                    token_at,
                });
            }
            covered.push((id, value));
        }
        for (id, value) in covered {
            let Some(state) = self.states.get_mut(&id) else {
                continue;
            };
            if let Some(bucket) = state.buckets.get_mut(&value) {
                bucket.take();
            }
            if state.limit.concurrency.is_some() {
                *state.running.entry(value.clone()).or_default() += 1;
                self.charges.entry(meta.key).or_default().push((id, value));
            }
        }
        Ok(())
    }

    /// Counts the lease of `meta` under the cap of limit `id` (a cap set while it ran).
    pub(crate) fn count_lease(&mut self, id: u32, meta: &TaskMeta) {
        let unkeyed = self.unkeyed.clone();
        let Some(state) = self.states.get_mut(&id) else {
            return;
        };
        let covers = match &state.key.scope {
            LimitScope::Task(name) => **name == *meta.name,
            LimitScope::Queue(name) => **name == *meta.queue,
        };
        if let Some(value) = state.value_of(meta, &unkeyed).filter(|_| covers) {
            *state.running.entry(value.clone()).or_default() += 1;
            self.charges.entry(meta.key).or_default().push((id, value));
        }
    }

    /// A lease of task `key` ended: the caps that counted it have room for one more.
    fn release(&mut self, key: u64) -> Vec<Freed> {
        let Some(charges) = self.charges.remove(&key) else {
            return Vec::new();
        };
        let mut freed = Vec::with_capacity(charges.len());
        for (id, value) in charges {
            // A limit removed or set again since keeps no count of this lease.
            let Some(state) = self.states.get_mut(&id) else {
                continue;
            };
            if let Some(running) = state.running.get_mut(&value) {
                *running = running.saturating_sub(1);
                if *running == 0 {
                    state.running.remove(&value);
                }
            }
            let whole_queue =
                state.key.per.is_none() && matches!(state.key.scope, LimitScope::Queue(_));
            let park = self.park_of.get(&(id, value)).copied();
            freed.push(Freed { park, whole_queue });
        }
        freed
    }

    /// Parks the READY task `meta` that `blocked` held back.
    pub(crate) fn park(&mut self, meta: &TaskMeta, blocked: Blocked) -> Parked {
        let Blocked {
            limit,
            value,
            held,
            token_at,
        } = blocked;
        let park_id = match self.park_of.get(&(limit, value.clone())) {
            Some(&id) => id,
            None => {
                self.next_park += 1;
                let id = self.next_park;
                self.park_of.insert((limit, value.clone()), id);
                self.parks.insert(
                    id,
                    Park {
                        limit,
                        value,
                        tasks: BTreeSet::new(),
                        timer_at: None,
                    },
                );
                id
            }
        };
        self.parked.insert(meta.key, (park_id, held));
        let mut timer_at = None;
        if let Some(park) = self.parks.get_mut(&park_id) {
            park.tasks.insert(parked_entry(meta));
            if let Some(at) = token_at.filter(|&at| park.timer_at.is_none_or(|t| at < t)) {
                park.timer_at = Some(at);
                timer_at = Some(at);
            }
        }
        Parked {
            park: park_id,
            timer_at,
        }
    }

    /// Task `meta` leaves its state (READY or LEASED) or is deleted: takes it out of its park
    /// and its queue's index of parked tasks, and ends the count of its lease. Returns the caps
    /// that have room now.
    pub(crate) fn leaving(&mut self, meta: &TaskMeta, queues: &mut Queues) -> Vec<Freed> {
        match meta.state {
            TaskState::Ready => {
                if let Some((park_id, _)) = self.parked.remove(&meta.key) {
                    let entry = parked_entry(meta);
                    if let Some(queue) = queues.get_mut(&meta.queue) {
                        queue.parked.remove(&entry);
                    }
                    if let Some(park) = self.parks.get_mut(&park_id) {
                        park.tasks.remove(&entry);
                        if park.tasks.is_empty() {
                            self.drop_park(park_id);
                        }
                    }
                }
                Vec::new()
            }
            TaskState::Leased => self.release(meta.key),
            _ => Vec::new(),
        }
    }

    /// Takes up to `n` tasks out of a park, first in lease order.
    pub(crate) fn unpark(&mut self, park_id: u64, n: usize) -> Vec<u64> {
        let Some(park) = self.parks.get_mut(&park_id) else {
            return Vec::new();
        };
        let mut keys = Vec::with_capacity(n.min(park.tasks.len()));
        while keys.len() < n {
            let Some((_, _, key)) = park.tasks.pop_first() else {
                break;
            };
            keys.push(key);
        }
        if park.tasks.is_empty() {
            self.drop_park(park_id);
        }
        for key in &keys {
            self.parked.remove(key);
        }
        keys
    }

    /// A park's `Limit` timer fired: takes out as many tasks as its bucket has tokens, and says
    /// when to look again if tasks stay.
    pub(crate) fn unpark_for_tokens(
        &mut self,
        park_id: u64,
        now_ms: u64,
    ) -> (Vec<u64>, Option<u64>) {
        let Some(park) = self.parks.get_mut(&park_id) else {
            return (Vec::new(), None);
        };
        park.timer_at = None;
        let (limit, value) = (park.limit, park.value.clone());
        let bucket = self
            .states
            .get_mut(&limit)
            .and_then(|state| state.buckets.get_mut(&value));
        let Some(bucket) = bucket else {
            // The limit or its bucket is gone: nothing holds these tasks back any more.
            return (self.unpark(park_id, usize::MAX), None);
        };
        let tokens = bucket.tokens(now_ms);
        let next = bucket.tokens_at_ms(tokens + 1);
        let keys = self.unpark(park_id, usize::try_from(tokens).unwrap_or(usize::MAX));
        let again = match self.parks.get_mut(&park_id) {
            Some(park) => {
                park.timer_at = Some(next);
                Some(next)
            }
            None => None,
        };
        (keys, again)
    }

    fn drop_park(&mut self, park_id: u64) {
        if let Some(park) = self.parks.remove(&park_id) {
            self.park_of.remove(&(park.limit, park.value));
        }
    }
}

/// A parked task's place in lease order: `(9 - priority, ready_seq, key)`.
pub(crate) fn parked_entry(meta: &TaskMeta) -> (u8, u64, u64) {
    (9 - meta.priority.min(9), meta.ready_seq, meta.key)
}

impl super::Engine {
    /// Puts back stored limits after a restart (rate buckets start full), counting the
    /// restored leases under their caps.
    pub fn restore_limits(&mut self, stored: impl IntoIterator<Item = (LimitKey, Limit)>) {
        for (key, limit) in stored {
            let set = self.limits.set(key, Some(limit));
            if let Some(id) = set.id.filter(|_| set.count_leases) {
                self.count_leases(id);
            }
        }
    }

    /// Why the READY task `key` was held back at its last lease attempt, if a limit did.
    pub fn held(&self, key: u64) -> Option<&Held> {
        self.limits.parked.get(&key).map(|(_, held)| held)
    }

    /// Every limit, by key.
    pub fn limits(&self) -> Vec<LimitInfo> {
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
        assert_eq!(rate.to_string(), "10/s");
        assert_eq!(RateLimit::parse("100/m", 5).unwrap().burst, 5);
        assert_eq!(RateLimit::parse("1000/h", 0).unwrap().per_ms, 3_600_000);
        assert!(RateLimit::parse("10/x", 0)
            .unwrap_err()
            .contains("unknown unit"));
        assert!(RateLimit::parse("0/s", 0).unwrap_err().contains("above 0"));
        assert!(RateLimit::parse("ten", 0).unwrap_err().contains("10/s"));
        assert!("task:".parse::<LimitScope>().is_err());
    }

    #[test]
    fn a_bucket_admits_its_rate_exactly_after_the_burst() {
        let mut bucket = Bucket::new(RateLimit::parse("3/s", 1).unwrap(), 0);
        // One at once (the burst), then one every 333.3 ms: 30 in the next 10 s.
        let mut admitted = 0;
        for now in 0..=10_000 {
            if bucket.tokens(now) > 0 {
                bucket.take();
                admitted += 1;
            }
        }
        assert_eq!(admitted, 31);
        assert_eq!(bucket.tokens_at_ms(1), 10_334);
    }

    #[test]
    fn full_keyed_buckets_are_swept_once_there_are_many() {
        let key = LimitKey {
            scope: LimitScope::Task("t".into()),
            per: Some("tenant".into()),
        };
        let rate = RateLimit::parse("1/s", 1).unwrap();
        let mut state = LimitState::new(
            key,
            Limit {
                rate: Some(rate),
                concurrency: None,
            },
        );
        for tenant in 0..SWEEP_MIN {
            let value: Arc<str> = Arc::from(tenant.to_string());
            assert!(state.check(&value, 0).is_ok());
            if let Some(bucket) = state.buckets.get_mut(&value) {
                bucket.take();
            }
        }
        // Buckets refill in 1 s; later tenants sweep the full ones out.
        assert!(state.check(&Arc::from("late"), 5_000).is_ok());
        assert!(state.buckets.len() < SWEEP_MIN, "{}", state.buckets.len());
    }
}
