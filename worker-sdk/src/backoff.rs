//! Jittered exponential backoff for waiting on the broker, so a fleet of workers that lost it
//! together does not come back in lockstep: a leaf that imports nothing of the worker.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// Waits that double from `base` up to `cap`, each one drawn from the upper half of its step
/// ("equal jitter": never less than half the step, so the backoff still backs off).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    step: Duration,
}

impl Backoff {
    /// A backoff whose first step is `base` and whose steps stop growing at `cap`.
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            step: base,
        }
    }

    /// The next wait; the step after it doubles, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.cap);
        let half = step / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random() % spread.max(1))
    }

    /// Starts again from the first step (after a success).
    pub(crate) fn reset(&mut self) {
        self.step = self.base;
    }
}

/// A random number: std's hasher keys are random per process and differ per `RandomState`, which
/// is all jitter needs (no dependency on a random number crate for it).
fn random() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_within_the_upper_half_of_each_step() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for step_ms in [100, 200, 400, 800, 1000, 1000] {
            let step = Duration::from_millis(step_ms);
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "step {step:?}: {delay:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn delays_are_jittered() {
        let delays: std::collections::HashSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        assert!(delays.len() > 1, "twenty workers waited alike: {delays:?}");
    }
}
