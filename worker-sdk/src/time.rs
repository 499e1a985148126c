//! Time shared by every part: an attempt's time limits and durations in whole milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Soft and hard time limits (of a task, a task type or the worker); not the broker's rate
/// limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimeLimits {
    pub(crate) soft: Option<Duration>,
    pub(crate) hard: Option<Duration>,
}

/// A duration in whole ms, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The wall clock in ms since the Unix epoch, as the broker writes lease deadlines.
pub(crate) fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
