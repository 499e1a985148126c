//! A command's time and order: the [`Ctx`] every command is applied with, and [`When`], a time
//! given absolutely or relative to it.

/// The most sub-ids (task keys, lease ids, ready positions) one command may take from its
/// sequence number: ids are `seq << SUB_BITS | index`.
pub const SUB_BITS: u32 = 20;

/// Time and order, stamped by whoever orders commands (the broker today, a Raft leader later).
/// `apply` reads neither a clock nor a random source; everything it needs is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// The command's time, unix ms.
    pub now_ms: u64,
    /// The command's sequence number: unique and increasing across restarts.
    pub seq: u64,
}

impl Ctx {
    /// The `index`-th id derived from this command's sequence number.
    pub(crate) fn sub_id(&self, index: usize) -> u64 {
        // index < 2^SUB_BITS is guaranteed by the per-command limits.
        (self.seq << SUB_BITS) | (index as u64 & ((1 << SUB_BITS) - 1))
    }
}

/// A point in time given absolutely or relative to the command's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Unix ms.
    At(u64),
    /// This many ms after the command's time.
    In(u64),
}

impl When {
    pub(crate) fn resolve(self, now_ms: u64) -> u64 {
        match self {
            Self::At(at) => at,
            Self::In(delay) => now_ms.saturating_add(delay),
        }
    }
}
