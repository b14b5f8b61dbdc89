//! One clock for the whole process.
//!
//! Sender and sink live in the same process, so end-to-end latency is the difference of two
//! readings of the same clock (Knative's own harness put sender and receiver in one pod for the
//! same reason). The wall clock is read once and then advanced by the monotonic clock, so an NTP
//! step during a run cannot produce negative or inflated latencies.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_unix_ns: u64,
}

impl Clock {
    pub fn new() -> Self {
        let base = Instant::now();
        let base_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| saturating_ns(d.as_nanos()))
            .unwrap_or(0);
        Self { base, base_unix_ns }
    }

    /// Unix nanoseconds of `at` on this process's monotonic-anchored clock.
    pub fn unix_ns(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base).as_nanos();
        self.base_unix_ns.saturating_add(saturating_ns(since))
    }

    pub fn now_ns(&self) -> u64 {
        self.unix_ns(Instant::now())
    }
}

fn saturating_ns(ns: u128) -> u64 {
    u64::try_from(ns).unwrap_or(u64::MAX)
}
