//! Which (type, source) pairs each Broker and Channel accepts, and how often: the input of the
//! event registry's traffic-based registration and of the EventTypes' `lastSeen`/`eventCount`.
//!
//! The hot path pays one lock per published batch and no allocation for a pair already seen in
//! the current window. The window is bounded: once `max_pairs` distinct pairs wait to be
//! drained, new pairs are counted as dropped instead of stored, so a flood of random types
//! cannot grow memory or slow the ingress.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::plan::BrokerKey;

/// Distinct pairs a window holds by default.
pub const DEFAULT_MAX_PAIRS: usize = 10_000;

/// One (stream, type, source) pair seen in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub stream: BrokerKey,
    pub ty: String,
    pub source: String,
    /// Events in the window.
    pub count: u64,
    /// When the last of them was accepted.
    pub last_seen: jiff::Timestamp,
}

pub struct TypeObserver {
    window: Mutex<HashMap<u64, Vec<Seen>>>,
    pairs: AtomicU64,
    max_pairs: usize,
    hasher: RandomState,
    /// Pairs not recorded because the window was full.
    pub dropped: AtomicU64,
}

impl TypeObserver {
    pub fn new(max_pairs: usize) -> Self {
        TypeObserver {
            window: Mutex::new(HashMap::new()),
            pairs: AtomicU64::new(0),
            max_pairs,
            hasher: RandomState::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn hash(&self, stream: &BrokerKey, ty: &str, source: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        stream.hash(&mut h);
        ty.hash(&mut h);
        source.hash(&mut h);
        h.finish()
    }

    /// Records a batch of accepted events of one stream.
    pub fn observe<'a>(
        &self,
        stream: &BrokerKey,
        events: impl Iterator<Item = (&'a str, &'a str)>,
    ) {
        let now = jiff::Timestamp::now();
        let Ok(mut window) = self.window.lock() else {
            return;
        };
        for (ty, source) in events {
            let h = self.hash(stream, ty, source);
            if let Some(s) = window.get_mut(&h).and_then(|bucket| {
                bucket
                    .iter_mut()
                    .find(|s| s.ty == ty && s.source == source && &s.stream == stream)
            }) {
                s.count += 1;
                s.last_seen = now;
                continue;
            }
            if self.pairs.load(Relaxed) as usize >= self.max_pairs {
                self.dropped.fetch_add(1, Relaxed);
                continue;
            }
            self.pairs.fetch_add(1, Relaxed);
            window.entry(h).or_default().push(Seen {
                stream: stream.clone(),
                ty: ty.to_string(),
                source: source.to_string(),
                count: 1,
                last_seen: now,
            });
        }
    }

    /// Takes the window's pairs and starts a new window.
    pub fn drain(&self) -> Vec<Seen> {
        let taken = match self.window.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => return Vec::new(),
        };
        self.pairs.store(0, Relaxed);
        taken.into_values().flatten().collect()
    }
}

impl Default for TypeObserver {
    fn default() -> Self {
        TypeObserver::new(DEFAULT_MAX_PAIRS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pairs_per_stream_and_caps_new_ones() {
        let o = TypeObserver::new(3);
        let b = BrokerKey::new("ns", "b");
        let c = BrokerKey::channel("ns", "b");
        o.observe(&b, [("t1", "s"), ("t1", "s"), ("t2", "s")].into_iter());
        o.observe(&c, [("t1", "s")].into_iter());
        // Full: a new pair is dropped, a known one still counts.
        o.observe(&b, [("t3", "s"), ("t1", "s")].into_iter());
        assert_eq!(o.dropped.load(Relaxed), 1);
        let mut seen = o.drain();
        seen.sort_by(|x, y| (&x.stream, &x.ty).cmp(&(&y.stream, &y.ty)));
        let got: Vec<(&BrokerKey, &str, u64)> = seen
            .iter()
            .map(|s| (&s.stream, s.ty.as_str(), s.count))
            .collect();
        assert_eq!(got, vec![(&b, "t1", 3), (&b, "t2", 1), (&c, "t1", 1)]);
        // A new window has room again.
        o.observe(&b, [("t3", "s")].into_iter());
        assert_eq!(o.drain().len(), 1);
        assert!(o.drain().is_empty());
    }
}
