//! Waiting for the store to change in a set of resources: how the data plane's and the
//! sources' plan loops know when to rebuild.

use std::time::Duration;

use herald_store::{Rv, Store};
use tokio_util::sync::CancellationToken;

/// Waits until one of `relevant` changed after `since` (or the watch ended), then lets a burst
/// of changes settle for a few milliseconds. Returns false when `shutdown` fired first.
pub async fn wait(
    store: &Store,
    since: Rv,
    relevant: &[String],
    what: &str,
    shutdown: &CancellationToken,
) -> bool {
    let mut watch = match store.watch(None, None, Some(since)) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("{what}: cannot watch the store: {e}; retrying");
            return tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => true,
                _ = shutdown.cancelled() => false,
            };
        }
    };
    loop {
        tokio::select! {
            ev = watch.next() => match ev {
                Some(ev) if relevant.contains(&ev.resource) => break,
                Some(_) => continue,
                None => break,
            },
            _ = shutdown.cancelled() => return false,
        }
    }
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(5)) => true,
        _ = shutdown.cancelled() => false,
    }
}
