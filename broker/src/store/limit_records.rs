//! The stored form of limits: a versioned prost record under a key made of the limit's scope and
//! header.

use prost::Message;

use super::records::{unversioned, versioned};
use super::StoreError;
use crate::engine::limits::{Limit, LimitKey, LimitScope, RateLimit};

/// A stored limit.
#[derive(Clone, PartialEq, Message)]
struct LimitRecord {
    /// The rate: tasks per period (0: none).
    #[prost(uint32, tag = "1")]
    count: u32,
    #[prost(uint64, tag = "2")]
    per_ms: u64,
    #[prost(uint32, tag = "3")]
    burst: u32,
    /// `task:NAME` or `queue:NAME`.
    #[prost(string, tag = "4")]
    scope: String,
    /// The header of a keyed limit; empty if not keyed.
    #[prost(string, tag = "5")]
    per: String,
    /// The concurrency cap (0: none).
    #[prost(uint32, tag = "6")]
    concurrency: u32,
}

/// The key of a limit: kind, its scope as text (`task:NAME`, `queue:NAME`), then for a keyed
/// limit a NUL and the header.
pub(crate) fn limit_key(key: &LimitKey) -> Vec<u8> {
    let mut out = vec![super::keys::LIMIT];
    out.extend_from_slice(key.scope.to_string().as_bytes());
    if let Some(per) = &key.per {
        out.push(0);
        out.extend_from_slice(per.as_bytes());
    }
    out
}

/// Encodes a limit.
pub(crate) fn encode_limit(key: &LimitKey, limit: &Limit) -> Vec<u8> {
    versioned(&LimitRecord {
        count: limit.rate.map_or(0, |r| r.count),
        per_ms: limit.rate.map_or(0, |r| r.per_ms),
        burst: limit.rate.map_or(0, |r| r.burst),
        scope: key.scope.to_string(),
        per: key.per.clone().unwrap_or_default(),
        concurrency: limit.concurrency.unwrap_or(0),
    })
}

/// Decodes a stored limit.
pub(crate) fn decode_limit(key: &[u8], bytes: &[u8]) -> Result<(LimitKey, Limit), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_vec(),
        reason,
    };
    let r = LimitRecord::decode(unversioned(key, bytes)?).map_err(|e| corrupt(e.to_string()))?;
    let scope: LimitScope = r.scope.parse().map_err(corrupt)?;
    let rate = match (r.count, r.per_ms) {
        (0, _) => None,
        (_, 0) => return Err(corrupt("a rate with a period of zero".into())),
        (count, per_ms) => Some(RateLimit {
            count,
            per_ms,
            burst: r.burst.max(1),
        }),
    };
    let concurrency = (r.concurrency > 0).then_some(r.concurrency);
    if rate.is_none() && concurrency.is_none() {
        return Err(corrupt("a limit that allows everything".into()));
    }
    Ok((
        LimitKey {
            scope,
            per: (!r.per.is_empty()).then_some(r.per),
        },
        Limit { rate, concurrency },
    ))
}
