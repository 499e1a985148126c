//! Conversions between Rust time types and the wire's `*_ms` / `*_unix_ms` integers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration as whole milliseconds, rounded up so that a non-zero duration never becomes 0
/// (which the wire reads as "not set"); saturates at `u64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A point in time as milliseconds since the Unix epoch (negative before 1970); saturates.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(|ms| -ms)
            .unwrap_or(i64::MIN),
    }
}

/// A wire time; 0 means "not set" and gives `None`.
pub(crate) fn time_from_unix_ms(ms: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    match ms {
        0 => None,
        1.. => UNIX_EPOCH.checked_add(magnitude),
        _ => UNIX_EPOCH.checked_sub(magnitude),
    }
}

/// A string field where empty means "not set".
pub(crate) fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_millisecond_durations_round_up_instead_of_vanishing() {
        assert_eq!(duration_ms(Duration::ZERO), 0);
        assert_eq!(duration_ms(Duration::from_micros(1)), 1);
        assert_eq!(duration_ms(Duration::from_micros(1500)), 2);
        assert_eq!(duration_ms(Duration::from_secs(10)), 10_000);
        assert_eq!(duration_ms(Duration::MAX), u64::MAX);
    }

    #[test]
    fn times_round_trip_through_unix_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(unix_ms(t), 1_700_000_000_123);
        assert_eq!(time_from_unix_ms(1_700_000_000_123), Some(t));
        let before = UNIX_EPOCH - Duration::from_millis(5);
        assert_eq!(unix_ms(before), -5);
        assert_eq!(time_from_unix_ms(-5), Some(before));
        assert_eq!(time_from_unix_ms(0), None, "0 means not set");
    }
}
