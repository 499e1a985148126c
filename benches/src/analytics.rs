//! Latency histograms and the summary of one run.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Call latencies in microseconds, 1 µs to 60 s at 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("invariant: valid bounds"))
    }
}

impl Latencies {
    /// Records one call.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 60_000_000);
        self.0.saturating_record(micros);
    }

    /// Merges another actor's histogram.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Percentiles in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        LatencySummary {
            calls: self.0.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

/// Latency percentiles of a run's calls.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// Calls measured.
    pub calls: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest call, ms.
    pub max_ms: f64,
}

/// What one scenario run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Scenario name.
    pub scenario: String,
    /// Its parameters, as given.
    pub params: serde_json::Value,
    /// Tasks completed (enqueued, or leased and acked in roundtrip).
    pub tasks: u64,
    /// Wall time of the measured phase, s.
    pub elapsed_s: f64,
    /// `tasks / elapsed_s`.
    pub tasks_per_s: f64,
    /// Latency of the calls the scenario makes per task or batch.
    pub latency: LatencySummary,
    /// Broker resident memory at the end, MiB (when the broker is a child process).
    pub broker_rss_mib: Option<f64>,
    /// Peak broker resident memory, MiB (when known).
    pub broker_peak_rss_mib: Option<f64>,
}
