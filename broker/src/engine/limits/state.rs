//! The limits' soft state: every limit by key and by the names and queues it covers, its
//! buckets, the leases its cap counts, and the parks of the tasks it holds back.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::bucket::Bucket;
use super::{Held, Limit, LimitInfo, LimitKey, LimitScope};
use crate::engine::task::TaskMeta;

/// One limit's state.
#[derive(Debug)]
pub(super) struct LimitState {
    pub(super) key: LimitKey,
    pub(super) limit: Limit,
    /// Per key value ("" for an unkeyed limit); a keyed bucket that is full again is dropped.
    pub(super) buckets: HashMap<Arc<str>, Bucket>,
    /// Leases counted per key value; entries at zero are dropped.
    pub(super) running: HashMap<Arc<str>, u32>,
    /// Bucket count at which full buckets are swept out.
    pub(super) sweep_at: usize,
}

pub(super) const SWEEP_MIN: usize = 1024;

impl LimitState {
    pub(super) fn new(key: LimitKey, limit: Limit) -> Self {
        Self {
            key,
            limit,
            buckets: HashMap::new(),
            running: HashMap::new(),
            sweep_at: SWEEP_MIN,
        }
    }

    /// The key value this limit counts `meta` under, if it covers the task.
    pub(super) fn value_of(&self, meta: &TaskMeta, unkeyed: &Arc<str>) -> Option<Arc<str>> {
        match &self.key.per {
            None => Some(unkeyed.clone()),
            Some(header) => meta.header(header).cloned(),
        }
    }

    pub(super) fn describe(&self, kind: &str, value: &str) -> String {
        match &self.key.per {
            Some(_) => format!("{kind} {}={value}", self.key),
            None => format!("{kind} {}", self.key),
        }
    }

    /// Drops keyed buckets that are full again (they hold nothing a new bucket would not), once
    /// there are many, so a limit per tenant does not grow with every tenant ever seen.
    pub(super) fn sweep(&mut self, now_ms: u64) {
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
pub(super) struct Park {
    pub(super) limit: u32,
    pub(super) value: Arc<str>,
    /// `(9 - priority, ready_seq, key)`: highest priority first, then ready order.
    pub(super) tasks: BTreeSet<(u8, u64, u64)>,
    /// When a `Limit` timer will look at it again, if one will.
    pub(super) timer_at: Option<u64>,
}

/// Every limit, the tasks they hold back, and the leases they count.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pub(super) by_key: BTreeMap<LimitKey, u32>,
    pub(super) states: HashMap<u32, LimitState>,
    pub(super) by_task: HashMap<Arc<str>, Vec<u32>>,
    pub(super) by_queue: HashMap<Arc<str>, Vec<u32>>,
    pub(super) next_id: u32,
    /// Leases counted by caps, by task key: `(limit, key value)`.
    pub(super) charges: HashMap<u64, Vec<(u32, Arc<str>)>>,
    pub(super) parks: HashMap<u64, Park>,
    pub(super) park_of: HashMap<(u32, Arc<str>), u64>,
    /// Parked tasks, by task key: their park, and why (shown in listings).
    pub(super) parked: HashMap<u64, (u64, Held)>,
    pub(super) next_park: u64,
    /// Queues whose whole-queue limit has no room, to wake when it has.
    pub(crate) throttled: HashSet<Arc<str>>,
    pub(super) unkeyed: Arc<str>,
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
    pub(super) fn forget_leases(&mut self, id: u32) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::limits::RateLimit;

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
