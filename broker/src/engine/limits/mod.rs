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
//!
//! # Layout
//! - this file: what a limit is ([`LimitKey`], [`Limit`], [`RateLimit`]) and how it is shown
//!   ([`LimitInfo`], [`Held`]).
//! - `bucket.rs`: the token bucket and its refill.
//! - `state.rs`: every limit, its buckets, lease counts and parks (`Limits`).
//! - `admission.rs`: deciding at lease time whether a task may go.
//! - `parks.rs`: parking the tasks a limit holds back and letting them go again.
//! - `registry.rs`: setting, restoring and listing limits on the engine.

mod admission;
mod bucket;
mod parks;
mod registry;
mod state;

use std::fmt;

pub(crate) use state::Limits;

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
}
