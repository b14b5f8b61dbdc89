//! Latency percentiles.
//!
//! Runs here produce at most a few million samples, so sorting a `Vec<u64>` gives exact
//! percentiles at a cost of milliseconds, with no histogram bucket error to explain.

use serde_json::{Value, json};

/// Percentiles of a set of durations, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    /// Sorts `samples` in place and reads the percentiles off it (nearest-rank).
    pub fn from_samples(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        Self {
            count: samples.len(),
            p50: rank(samples, 50.0),
            p90: rank(samples, 90.0),
            p99: rank(samples, 99.0),
            p999: rank(samples, 99.9),
            max: samples[samples.len() - 1],
        }
    }

    pub fn to_json(self) -> Value {
        json!({
            "samples": self.count,
            "p50_us": us(self.p50),
            "p90_us": us(self.p90),
            "p99_us": us(self.p99),
            "p99_9_us": us(self.p999),
            "max_us": us(self.max),
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `sorted`.
fn rank(sorted: &[u64], pct: f64) -> u64 {
    let n = sorted.len();
    // In per-mille integers: 99.9 / 100 × 1000 is 999.0000000000001 in floating point.
    let permille = (pct * 10.0).round() as usize;
    let idx = (permille * n).div_ceil(1000);
    sorted[idx.clamp(1, n) - 1]
}

/// Microseconds with one decimal, the unit every figure in BENCHMARKS.md uses.
pub fn us(ns: u64) -> f64 {
    (ns as f64 / 100.0).round() / 10.0
}

/// `12.3 ms`, `850 µs`: short, aligned-enough for a terminal table.
pub fn human(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.0} ms", ns as f64 / 1e6)
    } else if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::from_samples(&mut v);
        assert_eq!(
            (l.count, l.p50, l.p90, l.p99, l.p999, l.max),
            (1000, 500, 900, 990, 999, 1000)
        );
        let mut one = vec![7];
        let l = Latency::from_samples(&mut one);
        assert_eq!((l.p50, l.p99, l.max), (7, 7, 7));
        assert_eq!(Latency::from_samples(&mut []), Latency::default());
    }

    #[test]
    fn units() {
        assert_eq!(us(1_234_567), 1234.6);
        assert_eq!(human(850_000), "850 µs");
        assert_eq!(human(1_500_000), "1.50 ms");
        assert_eq!(human(25_000_000), "25 ms");
    }
}
