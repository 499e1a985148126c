//! The stored form of remembered revocations: the key names the rule (`0x06`, then `i` and the
//! task id, or `h`, the header name, a NUL and the value); the value is a versioned prost record
//! with the time it is forgotten.

use std::sync::Arc;

use prost::Message;

use super::records::{unversioned, versioned};
use super::StoreError;
use crate::engine::RevokeRule;

/// A stored revocation.
#[derive(Clone, PartialEq, Message)]
struct RevocationRecord {
    /// Forgotten at this time, unix ms.
    #[prost(uint64, tag = "1")]
    until_ms: u64,
}

/// The key of a revocation.
pub(crate) fn revocation_key(rule: &RevokeRule) -> Vec<u8> {
    let mut out = vec![super::keys::REVOCATION];
    match rule {
        RevokeRule::Id(id) => {
            out.push(b'i');
            out.extend_from_slice(id.as_bytes());
        }
        RevokeRule::Header(name, value) => {
            out.push(b'h');
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend_from_slice(value.as_bytes());
        }
    }
    out
}

/// Encodes the time a revocation is forgotten.
pub(crate) fn encode_revocation(until_ms: u64) -> Vec<u8> {
    versioned(&RevocationRecord { until_ms })
}

/// Decodes a stored revocation.
pub(crate) fn decode_revocation(key: &[u8], bytes: &[u8]) -> Result<(RevokeRule, u64), StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        key: key.to_vec(),
        reason: reason.into(),
    };
    let record =
        RevocationRecord::decode(unversioned(key, bytes)?).map_err(|e| corrupt(&e.to_string()))?;
    let text = |bytes: &[u8]| -> Result<Arc<str>, StoreError> {
        std::str::from_utf8(bytes)
            .map(Arc::from)
            .map_err(|_| corrupt("a revocation key that is not UTF-8"))
    };
    let rule = match key.get(1..) {
        Some([b'i', id @ ..]) => RevokeRule::Id(text(id)?),
        Some([b'h', rest @ ..]) => {
            let nul = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| corrupt("a header revocation without its value"))?;
            let (name, value) = rest.split_at(nul);
            RevokeRule::Header(text(name)?, text(value.get(1..).unwrap_or_default())?)
        }
        _ => return Err(corrupt("an unknown revocation kind")),
    };
    Ok((rule, record.until_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_round_trip() {
        for rule in [
            RevokeRule::Id("019a-task".into()),
            RevokeRule::Header("tenant".into(), "acme".into()),
            RevokeRule::Header("k".into(), "".into()),
        ] {
            let key = revocation_key(&rule);
            let (back, until) = decode_revocation(&key, &encode_revocation(42)).unwrap();
            assert_eq!((back, until), (rule, 42));
        }
    }
}
