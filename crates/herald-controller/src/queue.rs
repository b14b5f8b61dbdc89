//! A de-duplicating work queue with client-go semantics: a key is queued at most once, and a
//! key being processed is never handed to a second worker; adding it meanwhile re-queues it when
//! the first worker is done. Failures back off exponentially per key.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One object to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Resource key (`Resource::key()`).
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Key>,
    dirty: HashSet<Key>,
    processing: HashSet<Key>,
    failures: HashMap<Key, u32>,
}

#[derive(Default)]
pub struct WorkQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl WorkQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The queue's invariants hold between statements, so a panic elsewhere cannot leave it
        // half-updated: keep going with the data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, key: Key) {
        let mut inner = self.lock();
        if !inner.dirty.insert(key.clone()) {
            return;
        }
        if !inner.processing.contains(&key) {
            inner.queue.push_back(key);
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Adds `key` after `delay`, unless `shutdown` fires first.
    pub fn add_after(self: &Arc<Self>, key: Key, delay: Duration, shutdown: CancellationToken) {
        let q = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => q.add(key),
                _ = shutdown.cancelled() => {}
            }
        });
    }

    /// The next key to process; `None` on shutdown.
    pub async fn get(&self, shutdown: &CancellationToken) -> Option<Key> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inner = self.lock();
                if let Some(key) = inner.queue.pop_front() {
                    inner.dirty.remove(&key);
                    inner.processing.insert(key.clone());
                    let more = !inner.queue.is_empty();
                    drop(inner);
                    if more {
                        // Pass the wake-up on so another idle worker picks the rest.
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = shutdown.cancelled() => return None,
            }
        }
    }

    /// Marks `key` processed; re-queues it if it was added meanwhile.
    pub fn done(&self, key: &Key) {
        let mut inner = self.lock();
        inner.processing.remove(key);
        if inner.dirty.contains(key) {
            inner.queue.push_back(key.clone());
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Records a failure and returns the delay before the next attempt (100 ms doubling, ≤ 60 s).
    pub fn backoff(&self, key: &Key) -> Duration {
        let mut inner = self.lock();
        let n = inner.failures.entry(key.clone()).or_insert(0);
        let delay = BASE_BACKOFF.saturating_mul(1u32 << (*n).min(20));
        *n = n.saturating_add(1);
        delay.min(MAX_BACKOFF)
    }

    /// Clears the failure count after a success.
    pub fn forget(&self, key: &Key) {
        self.lock().failures.remove(key);
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        Key {
            resource: "r".into(),
            namespace: "ns".into(),
            name: n.into(),
        }
    }

    #[tokio::test]
    async fn dedups_and_requeues_while_processing() {
        let q = WorkQueue::new();
        let stop = CancellationToken::new();
        q.add(key("a"));
        q.add(key("a"));
        q.add(key("b"));
        assert_eq!(q.len(), 2);
        let a = q.get(&stop).await;
        assert_eq!(a, Some(key("a")));
        q.add(key("a")); // while processing: deferred
        assert_eq!(q.len(), 1);
        q.done(&key("a"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.get(&stop).await, Some(key("b")));
        stop.cancel();
        let q2 = WorkQueue::new();
        assert_eq!(q2.get(&stop).await, None);
    }

    #[test]
    fn backoff_grows_and_resets() {
        let q = WorkQueue::default();
        let k = key("a");
        assert_eq!(q.backoff(&k), Duration::from_millis(100));
        assert_eq!(q.backoff(&k), Duration::from_millis(200));
        for _ in 0..30 {
            q.backoff(&k);
        }
        assert_eq!(q.backoff(&k), MAX_BACKOFF);
        q.forget(&k);
        assert_eq!(q.backoff(&k), Duration::from_millis(100));
    }
}
