//! One queue's recent traffic: what the event stream said over the last [`Window::span`],
//! reduced to rates and latency percentiles.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What one event adds to a queue's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sample {
    /// A task entered the queue (`task-sent`).
    In,
    /// A task left it for good: succeeded, failed, revoked or expired.
    Out,
    /// An attempt started after waiting this long since its task became ready.
    Waited(Duration),
    /// An attempt succeeded after running this long.
    Ran(Duration),
}

/// Samples of the last `span`, stamped with when they arrived here. Arrival time, not the
/// event's own: the broker's clock and this terminal's may disagree, and a rate only needs
/// a steady clock on one side.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    span: Duration,
    samples: VecDeque<(Instant, Sample)>,
}

/// A window reduced to the numbers `stalk top` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    /// Tasks sent per second.
    pub(crate) in_per_sec: f64,
    /// Tasks finished per second.
    pub(crate) out_per_sec: f64,
    /// Median wait from ready to start.
    pub(crate) wait_p50: Option<Duration>,
    /// 99th percentile of that wait.
    pub(crate) wait_p99: Option<Duration>,
    /// Median run time of successful attempts.
    pub(crate) run_p50: Option<Duration>,
}

impl Window {
    /// An empty window over the last `span`.
    pub(crate) fn new(span: Duration) -> Self {
        Self {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Records `sample` as arrived `at`, and forgets what fell out of the window.
    pub(crate) fn push(&mut self, at: Instant, sample: Sample) {
        self.samples.push_back((at, sample));
        self.forget_before(at);
    }

    /// Whether nothing happened within the span.
    pub(crate) fn is_quiet(&self, now: Instant) -> bool {
        self.samples
            .back()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) > self.span)
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some((at, _)) = self.samples.front() {
            if now.saturating_duration_since(*at) <= self.span {
                break;
            }
            self.samples.pop_front();
        }
    }

    /// The rates and percentiles as of `now`. `watching_since` is when the events began to
    /// arrive: until a whole span has passed, rates divide by the time actually watched, so
    /// they are right from the first seconds instead of climbing up to the truth.
    pub(crate) fn rates(&self, now: Instant, watching_since: Instant) -> Rates {
        let live = self
            .samples
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= self.span);
        let (mut sent, mut done) = (0_u32, 0_u32);
        let (mut waits, mut runs) = (Vec::new(), Vec::new());
        for (_, sample) in live {
            match *sample {
                Sample::In => sent += 1,
                Sample::Out => done += 1,
                Sample::Waited(wait) => waits.push(wait),
                Sample::Ran(run) => runs.push(run),
            }
        }
        // At least a second, so the first event does not read as thousands per second.
        let seconds = now
            .saturating_duration_since(watching_since)
            .clamp(Duration::from_secs(1), self.span)
            .as_secs_f64();
        Rates {
            in_per_sec: f64::from(sent) / seconds,
            out_per_sec: f64::from(done) / seconds,
            wait_p50: percentile(&mut waits, 50),
            wait_p99: percentile(&mut waits, 99),
            run_p50: percentile(&mut runs, 50),
        }
    }
}

/// The nearest-rank percentile (`pct` of 100) of `values`; `None` when there are none.
fn percentile(values: &mut [Duration], pct: usize) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (values.len() * pct).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Duration = Duration::from_secs(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rates_count_only_the_last_span() {
        let start = Instant::now();
        let mut window = Window::new(SPAN);
        window.push(start, Sample::In);
        for i in 0..20 {
            window.push(start + Duration::from_secs(15) + ms(i), Sample::In);
        }
        window.push(start + Duration::from_secs(15), Sample::Out);
        let rates = window.rates(start + Duration::from_secs(20), start);
        assert_eq!(rates.in_per_sec, 2.0, "20 sends within the last 10 s");
        assert_eq!(rates.out_per_sec, 0.1, "one finish within the last 10 s");
    }

    #[test]
    fn a_young_window_divides_by_the_time_watched() {
        let start = Instant::now();
        let mut window = Window::new(SPAN);
        for _ in 0..4 {
            window.push(start + ms(500), Sample::Out);
        }
        let rates = window.rates(start + Duration::from_secs(2), start);
        assert_eq!(rates.out_per_sec, 2.0, "4 finishes in the 2 s watched");
    }

    #[test]
    fn latency_percentiles_are_nearest_rank() {
        let start = Instant::now();
        let mut window = Window::new(SPAN);
        for wait in 1..=100 {
            window.push(start, Sample::Waited(ms(wait)));
        }
        window.push(start, Sample::Ran(ms(7)));
        let rates = window.rates(start, start);
        assert_eq!(rates.wait_p50, Some(ms(50)));
        assert_eq!(rates.wait_p99, Some(ms(99)));
        assert_eq!(rates.run_p50, Some(ms(7)));
    }

    #[test]
    fn a_window_without_samples_has_no_latency_and_is_quiet() {
        let now = Instant::now();
        let window = Window::new(SPAN);
        assert_eq!(window.rates(now, now), Rates::default());
        assert!(window.is_quiet(now));
    }
}
