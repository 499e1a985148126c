//! Task ids, stored compactly: the broker's own UUIDv7 ids (and any client id in the same
//! canonical form) as 16 bytes inline, other client ids as shared text. A million generated ids
//! then cost no heap allocation at all.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// A task's user-visible id.
#[derive(Clone, PartialEq, Eq)]
pub enum TaskId {
    /// A UUID written in canonical form (lowercase, hyphenated), kept as its 16 bytes.
    Uuid([u8; 16]),
    /// Any other id, kept as text.
    Text(Arc<str>),
}

impl TaskId {
    /// The id for `text`: canonical UUID text becomes [`TaskId::Uuid`], so that formatting it
    /// gives back exactly `text`; anything else stays text.
    pub fn new(text: &str) -> Self {
        match uuid::Uuid::try_parse(text) {
            Ok(parsed) if Self::canonical(&parsed).as_str() == text => {
                Self::Uuid(*parsed.as_bytes())
            }
            _ => Self::Text(Arc::from(text)),
        }
    }

    /// The id of a UUID.
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self::Uuid(*uuid.as_bytes())
    }

    fn canonical(uuid: &uuid::Uuid) -> CanonicalUuid {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid.hyphenated().encode_lower(&mut buf);
        CanonicalUuid(buf)
    }

    /// Calls `f` with the id as text, without allocating.
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Self::Uuid(bytes) => f(Self::canonical(&uuid::Uuid::from_bytes(*bytes)).as_str()),
            Self::Text(text) => f(text),
        }
    }

    /// Whether this is the id written as `text`.
    pub fn matches(&self, text: &str) -> bool {
        self.with_str(|own| own == text)
    }

    /// The hash of the id's text under `hasher`, equal to hashing that `&str` directly.
    pub fn hash_with(&self, hasher: &impl BuildHasher) -> u64 {
        self.with_str(|text| hasher.hash_one(text))
    }
}

/// A UUID's canonical text in a stack buffer.
struct CanonicalUuid([u8; uuid::fmt::Hyphenated::LENGTH]);

impl CanonicalUuid {
    fn as_str(&self) -> &str {
        // encode_lower writes ASCII hex digits and hyphens only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Hash for TaskId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.with_str(|text| text.hash(state));
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|text| f.write_str(text))
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|text| fmt::Debug::fmt(text, f))
    }
}

impl From<&str> for TaskId {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuids_are_stored_inline_and_print_back_unchanged() {
        let text = "01a20d3c-a722-76f8-bb2b-f99b47348949";
        let id = TaskId::new(text);
        assert!(matches!(id, TaskId::Uuid(_)));
        assert_eq!(id.to_string(), text);
        assert!(id.matches(text));
    }

    #[test]
    fn other_spellings_stay_text_so_they_print_back_unchanged() {
        for text in [
            "01A20D3C-A722-76F8-BB2B-F99B47348949",
            "order-42",
            "01a20d3ca72276f8bb2bf99b47348949",
        ] {
            let id = TaskId::new(text);
            assert!(matches!(id, TaskId::Text(_)), "{text}");
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn an_id_hashes_like_its_text() {
        let hasher = std::hash::RandomState::new();
        let text = "01a20d3c-a722-76f8-bb2b-f99b47348949";
        assert_eq!(TaskId::new(text).hash_with(&hasher), hasher.hash_one(text));
        assert_eq!(TaskId::new("x").hash_with(&hasher), hasher.hash_one("x"));
    }
}
