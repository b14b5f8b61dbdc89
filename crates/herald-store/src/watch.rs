//! Watches: replay from the persisted history, then follow the live broadcast.
//!
//! No gap, no duplicate: before each history page is read, the watch (re)subscribes to the
//! live broadcast. Events are broadcast only after their commit, so everything committed before
//! the page's read snapshot is in the page, and everything after is in the receiver; live
//! events at or below the last replayed revision are skipped. Resubscribing per page also means
//! a long replay cannot overflow the receiver. Revisions are consecutive (one event each), so a
//! hole at the start of a page means history was trimmed under the watch: it ends.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use redb::{ReadableDatabase, ReadableTable};
use tokio::sync::broadcast;

use crate::db::{self, HISTORY, META, META_RV, storage};
use crate::store::{Inner, Store};
use crate::{Rv, StoreError, WatchEvent};

/// History events read per step while replaying.
const PAGE: usize = 512;

/// A live watch: historical events after the requested revision, then live ones.
pub struct Watch {
    /// Weak so a watch never keeps the database open or the broadcast alive after the store is
    /// dropped (that ends the watch).
    store: Weak<Inner>,
    rx: broadcast::Receiver<WatchEvent>,
    resource: Option<String>,
    namespace: Option<String>,
    /// The highest revision consumed (delivered or filtered out).
    last: Rv,
    buf: VecDeque<WatchEvent>,
    replaying: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("resource", &self.resource)
            .field("namespace", &self.namespace)
            .field("rv", &self.last)
            .field("replaying", &self.replaying)
            .finish()
    }
}

impl Watch {
    pub(crate) fn start(
        store: &Store,
        resource: Option<&str>,
        namespace: Option<&str>,
        since: Option<Rv>,
    ) -> Result<Watch, StoreError> {
        let inner = &store.inner;
        let rx = inner.live.subscribe();
        let mut w = Watch {
            store: Arc::downgrade(inner),
            rx,
            resource: resource.map(str::to_string),
            namespace: namespace.map(str::to_string),
            // For `None`: anything at or below the revision seen after subscribing is past.
            last: since.unwrap_or_else(|| inner.current.load(Ordering::SeqCst)),
            buf: VecDeque::new(),
            replaying: since.is_some(),
        };
        if w.replaying {
            w.read_page(inner)?;
        }
        Ok(w)
    }

    /// The revision this watch has seen everything up to (for bookmarks).
    pub fn rv(&self) -> Rv {
        self.last
    }

    fn matches(&self, resource: &str, namespace: &str) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource)
            && self.namespace.as_deref().is_none_or(|n| n == namespace)
    }

    /// Reads the next page of history after `last`; `Gone` if it was trimmed away.
    fn read_page(&mut self, inner: &Inner) -> Result<(), StoreError> {
        self.rx = inner.live.subscribe();
        let r = inner.db.begin_read().map_err(storage)?;
        let current = r
            .open_table(META)
            .map_err(storage)?
            .get(META_RV)
            .map_err(storage)?
            .map(|g| g.value())
            .unwrap_or(0);
        let h = r.open_table(HISTORY).map_err(storage)?;
        let oldest = match h.first().map_err(storage)? {
            Some((k, _)) => k.value(),
            None => current + 1,
        };
        if self.last < current && self.last + 1 < oldest {
            return Err(StoreError::Gone {
                requested: self.last,
                oldest: oldest - 1,
            });
        }
        let mut n = 0;
        for e in h.range(self.last + 1..).map_err(storage)?.take(PAGE) {
            let (k, v) = e.map_err(storage)?;
            let rv = k.value();
            let (code, res, ns, name, bytes) = v.value();
            self.last = rv;
            n += 1;
            if self.matches(res, ns) {
                self.buf.push_back(WatchEvent {
                    type_: db::event_type(code),
                    resource: res.to_string(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    rv,
                    object: Arc::new(db::decode(bytes)?),
                });
            }
        }
        if n < PAGE {
            self.replaying = false;
        }
        Ok(())
    }

    /// The next event, or `None` when the watch ended (the store shut down or the consumer
    /// fell too far behind; clients then re-list, as with a Kubernetes watch timeout).
    /// Cancel-safe, so it can sit in `tokio::select!` without losing events.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(ev) = self.buf.pop_front() {
                return Some(ev);
            }
            if self.replaying {
                let inner = self.store.upgrade()?;
                if let Err(e) = self.read_page(&inner) {
                    tracing::debug!("watch ended during replay: {e}");
                    return None;
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(ev) => {
                    if ev.rv <= self.last {
                        continue;
                    }
                    self.last = ev.rv;
                    if self.matches(&ev.resource, &ev.namespace) {
                        return Some(ev);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!("watch ended: {n} events behind the live broadcast");
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
