//! Herald's channel log: every Broker appends events to a [`ChannelLog`] and every Trigger's
//! dispatcher reads it with its own named cursor.
//!
//! Two implementations share the trait:
//! - [`SegmentLog`]: durable. Append-only CRC32C-framed segment files, one writer thread doing group
//!   commit (one `fdatasync` per batch), coalesced checksummed cursors, recovery that keeps every
//!   valid record, and retention driven by the slowest cursor. See [`segment_log`] for the on-disk
//!   layout.
//! - [`MemoryLog`]: bounded and volatile, for brokers that do not need durability.
//!
//! Payloads are opaque [`bytes::Bytes`]; this crate knows nothing about CloudEvents.

mod cache;
mod cursor;
mod error;
mod format;
mod io_util;
mod memory;
mod recovery;
pub mod segment_log;
mod segments;
mod writer;

use std::future::Future;
use std::pin::Pin;

pub use error::LogError;
pub use memory::{MemoryLog, MemoryLogOptions};
pub use segment_log::{SegmentLog, SegmentLogOptions};

/// Position of a record in a log; assigned densely from 0 and never reused.
pub type Offset = u64;

/// A boxed future, so [`ChannelLog`] stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One committed record.
#[derive(Clone, Debug)]
pub struct Record {
    pub offset: Offset,
    pub payload: bytes::Bytes,
}

/// Counters for metrics and tests. `appended`, `fsyncs`, `corrupt_records` and `truncated_bytes`
/// count since the log was opened.
#[derive(Clone, Debug, Default)]
pub struct LogStats {
    /// Oldest retained offset.
    pub first: Offset,
    /// Next offset to assign.
    pub head: Offset,
    /// Segment files (memory log: 0).
    pub segments: u64,
    /// Bytes retained (segment files, or payload bytes for the memory log).
    pub bytes: u64,
    /// Records appended.
    pub appended: u64,
    /// `fdatasync` calls on segment files (cursor flushes are not counted).
    pub fsyncs: u64,
    /// Records skipped because their payload checksum failed.
    pub corrupt_records: u64,
    /// Bytes cut or ignored by recovery (torn tails, unreadable framing).
    pub truncated_bytes: u64,
}

/// The log behind one Broker: ordered appends, many independent readers.
pub trait ChannelLog: Send + Sync + 'static {
    /// Appends payloads in order; resolves with the offset of the first once they are durable
    /// (segment log: written and fdatasync'd by group commit) or stored (memory log).
    fn append(&self, payloads: Vec<bytes::Bytes>) -> BoxFuture<'_, Result<Offset, LogError>>;
    /// Up to `max_records`/`max_bytes` (at least one record if any) committed records with offset >= from.
    /// Records lost to corruption are skipped (and counted), never returned. `from` below `first()` starts at first().
    fn read(
        &self,
        from: Offset,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError>;
    /// Next offset to assign == one past the last committed record.
    fn head(&self) -> Offset;
    /// Oldest retained offset.
    fn first(&self) -> Offset;
    /// Changes whenever head advances (readers wait on it).
    fn watch_head(&self) -> tokio::sync::watch::Receiver<Offset>;
    /// The next offset this reader must process; `None` if unknown (never set, removed, or its
    /// persisted state was corrupt — the caller then restarts the reader from `first()`).
    fn cursor(&self, name: &str) -> Result<Option<Offset>, LogError>;
    /// Records that `name` has processed everything below `next`. Cheap: persisted in the
    /// background (durable log), so after a crash a cursor may lag (redelivery, never loss).
    fn set_cursor(&self, name: &str, next: Offset) -> Result<(), LogError>;
    /// Forgets a reader, releasing the records it was holding.
    fn remove_cursor(&self, name: &str) -> Result<(), LogError>;
    /// All cursors, sorted by name.
    fn cursors(&self) -> Vec<(String, Offset)>;
    fn stats(&self) -> LogStats;
    /// Flushes cursors and stops the writer; later appends fail with Closed.
    fn close(&self) -> BoxFuture<'_, Result<(), LogError>>;
}

/// Read limits shared by both logs: stop before exceeding a limit, but always return at least
/// one record when one is available so a huge record cannot stall a reader.
pub(crate) fn batch_full(
    count: usize,
    bytes: usize,
    next_len: usize,
    max_records: usize,
    max_bytes: usize,
) -> bool {
    count >= max_records || (count > 0 && bytes.saturating_add(next_len) > max_bytes)
}
