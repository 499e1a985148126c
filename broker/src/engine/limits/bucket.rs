//! The token bucket of a rate limit, filled by the time of the commands.

use super::RateLimit;

/// A limit's bucket. Integer units, so filling never drifts: a task costs `per_ms` units and
/// every ms adds `count` units, up to `burst` tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bucket {
    pub(super) limit: RateLimit,
    pub(super) units: u64,
    pub(super) at_ms: u64,
}

impl Bucket {
    pub(super) fn new(limit: RateLimit, now_ms: u64) -> Self {
        Self {
            limit,
            units: u64::from(limit.burst).saturating_mul(limit.per_ms),
            at_ms: now_ms,
        }
    }

    pub(super) fn fill(&mut self, now_ms: u64) {
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

    pub(super) fn full(&self) -> u64 {
        u64::from(self.limit.burst).saturating_mul(self.limit.per_ms)
    }

    /// Whole tokens now.
    pub(super) fn tokens(&mut self, now_ms: u64) -> u64 {
        self.fill(now_ms);
        self.units / self.limit.per_ms
    }

    pub(super) fn take(&mut self) {
        self.units = self.units.saturating_sub(self.limit.per_ms);
    }

    /// When the bucket holds `n` tokens (if nothing takes one first).
    pub(super) fn tokens_at_ms(&self, n: u64) -> u64 {
        let missing = n
            .saturating_mul(self.limit.per_ms)
            .saturating_sub(self.units);
        let count = u64::from(self.limit.count).max(1);
        self.at_ms + missing.div_ceil(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
