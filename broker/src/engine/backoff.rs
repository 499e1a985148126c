//! Retry backoff: exponential with full jitter and a cap.
//!
//! The jitter must not come from a random source inside the engine (the engine is a
//! deterministic state machine), so it is derived from the command's sequence number.

/// The delay before retry number `retry` (1 for the first retry), in ms: uniform in
/// `0..=min(max_ms, base_ms * 2^(retry-1))`, drawn from `seed`.
pub(crate) fn retry_delay_ms(base_ms: u64, max_ms: u64, retry: u32, seed: u64) -> u64 {
    let exp = retry.saturating_sub(1).min(63);
    let ceiling = base_ms.saturating_mul(1u64 << exp).min(max_ms);
    if ceiling == 0 {
        return 0;
    }
    splitmix64(seed) % (ceiling + 1)
}

/// A well-mixed 64-bit hash of `x` (SplitMix64's finalizer).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_stays_under_the_exponential_ceiling_and_the_cap() {
        for seed in 0..1_000 {
            assert!(retry_delay_ms(100, 10_000, 1, seed) <= 100);
            assert!(retry_delay_ms(100, 10_000, 3, seed) <= 400);
            assert!(retry_delay_ms(100, 10_000, 30, seed) <= 10_000);
        }
    }

    #[test]
    fn jitter_spreads_delays_over_the_whole_range() {
        let delays: Vec<u64> = (0..1_000)
            .map(|s| retry_delay_ms(1_000, 60_000, 1, s))
            .collect();
        assert!(
            delays.iter().any(|&d| d < 250),
            "no small delays: {delays:?}"
        );
        assert!(
            delays.iter().any(|&d| d > 750),
            "no large delays: {delays:?}"
        );
    }

    #[test]
    fn zero_base_means_no_delay() {
        assert_eq!(retry_delay_ms(0, 1_000, 5, 42), 0);
    }
}
