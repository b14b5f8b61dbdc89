//! Changing a Broker's (or Channel's) log without losing events.
//!
//! When a Broker is deleted, re-created (new UID) or switched to another channel kind, its old
//! log is not dropped: it becomes *draining*. It takes no new events (the ingress goes to the
//! new log), but its router and dispatchers keep delivering what it holds, with the Triggers of
//! the Broker of the same name as they are now. When every cursor in it has reached its head,
//! it is closed and deleted. A durable draining log carries a marker file, so a restart
//! re-opens it as draining instead of discarding it: the 202 promise holds across the swap and
//! across crashes during it. A Broker deleted for good keeps its draining log on disk until a
//! Broker of that name exists again (its Triggers are then known) — never silently discarded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use herald_log::{ChannelLog, SegmentLog};
use serde::{Deserialize, Serialize};

use crate::broker::BrokerRuntime;
use crate::plan::{BrokerKey, StreamKind};

/// File in a durable log directory that marks it as draining, with the owner's key.
pub const MARKER: &str = "draining.json";
/// How often a draining log checks whether it is done.
const CHECK: Duration = Duration::from_millis(200);

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    kind: String,
    namespace: String,
    name: String,
}

pub fn write_marker(dir: &Path, key: &BrokerKey) -> std::io::Result<()> {
    let m = Marker {
        kind: match key.kind {
            StreamKind::Broker => "Broker".into(),
            StreamKind::Channel => "Channel".into(),
        },
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    };
    let tmp = dir.join(format!("{MARKER}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(&m).unwrap_or_default())?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(MARKER))?;
    std::fs::File::open(dir)?.sync_all()
}

pub fn remove_marker(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(MARKER));
}

/// The key a draining log directory belongs to, if it is one.
pub fn read_marker(dir: &Path) -> Option<BrokerKey> {
    let bytes = std::fs::read(dir.join(MARKER)).ok()?;
    let m: Marker = serde_json::from_slice(&bytes).ok()?;
    Some(match m.kind.as_str() {
        "Channel" => BrokerKey::channel(m.namespace, m.name),
        _ => BrokerKey::new(m.namespace, m.name),
    })
}

/// Opens a draining durable log found on disk (after a restart).
pub fn open(dir: &Path, opts: herald_log::SegmentLogOptions) -> Option<Arc<dyn ChannelLog>> {
    match SegmentLog::open(dir, opts) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::error!("cannot open the draining log in {}: {e}", dir.display());
            None
        }
    }
}

/// True once every cursor of the log has reached its (frozen) head.
pub fn drained(log: &dyn ChannelLog) -> bool {
    let head = log.head();
    log.cursors().iter().all(|(_, c)| *c >= head)
}

/// Watches a draining runtime and removes it once drained: stops its dispatchers, closes its
/// log and deletes its directory.
pub async fn watch(runtime: Arc<BrokerRuntime>, dir: Option<PathBuf>, on_done: impl FnOnce()) {
    // No append may land after the drained check below (it would be acknowledged, then deleted).
    runtime.seal().await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK) => {}
            _ = runtime.router.cancel.cancelled() => return,
        }
        if drained(runtime.log.as_ref()) {
            break;
        }
    }
    runtime.router.cancel.cancel();
    if let Ok(mut d) = runtime.dispatchers.lock() {
        d.clear();
    }
    if let Err(e) = runtime.log.close().await {
        tracing::warn!(broker = %runtime.key, "closing a drained log: {e}");
    }
    if let Some(dir) = dir
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        tracing::warn!(broker = %runtime.key, "removing drained log {}: {e}", dir.display());
    }
    tracing::info!(broker = %runtime.key, uid = runtime.uid, "old log drained and removed");
    on_done();
}
