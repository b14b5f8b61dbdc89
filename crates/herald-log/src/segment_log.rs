//! The durable log: a directory of append-only segment files plus one cursor file.
//!
//! # On-disk layout (format version 1, little endian)
//!
//! ```text
//! <dir>/00000000000000000000.log   segment; the name is the offset of its first record
//!   header  "HLOG" | version u8 = 1 | 3 reserved | base offset u64          (16 bytes)
//!   record  len u32 | offset u64 | crc32c(payload) u32 | crc32c(previous 16 bytes) u32 | payload
//! <dir>/cursors                     all cursors, checksummed (see the cursor module)
//! ```
//!
//! The header checksum makes the framing trustworthy on its own: a record whose payload checksum
//! fails but whose header is intact is skipped (and counted) while the records after it are kept.
//! Segments roll once they would exceed `segment_bytes` (a larger record gets a segment to itself).
//!
//! # Writing
//!
//! One writer thread owns the active segment. Appends queue through a channel; the writer drains
//! everything queued, writes it, calls `fdatasync` once for the batch (group commit), then
//! publishes the new records (index, cache, `head`) and completes every waiting append. Only
//! published records are visible to readers. After an I/O error the writer stops (later appends
//! fail with `Closed`); reopening recovers whatever reached the disk.
//!
//! # Recovery
//!
//! Every record is verified on open. In the last segment anything after the last valid record
//! (a torn write, garbage, unreadable framing) is truncated. In an earlier segment unreadable
//! framing ends that segment and recovery continues with the next one. `head` resumes one past the
//! last record seen, so offsets never go backwards.
//!
//! # Retention
//!
//! After cursors are persisted and after a roll, closed segments are deleted from the front while
//! every persisted cursor is past their last record (with no cursors, all closed segments go).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::cache::RecentCache;
use crate::cursor::{CursorFile, CursorTable};
use crate::recovery::recover;
use crate::segments::{self, SegmentList};
use crate::writer::{Command, Writer};
use crate::{BoxFuture, ChannelLog, LogError, LogStats, Offset, Record};

/// Newest records kept in memory for readers at the head.
const CACHE_RECORDS: usize = 4096;
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Tuning for [`SegmentLog`].
#[derive(Clone, Debug)]
pub struct SegmentLogOptions {
    /// Roll to a new segment beyond this size (default 64 MiB).
    pub segment_bytes: u64,
    /// Largest payload accepted (default 8 MiB, at most `u32::MAX`).
    pub max_record_bytes: usize,
    /// Bytes queued for the writer beyond which `append` returns `Full` (default 64 MiB).
    pub max_pending_bytes: usize,
    /// `fdatasync` each batch (default true; false only for benchmarks).
    pub fsync: bool,
}

impl Default for SegmentLogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
            max_record_bytes: 8 * 1024 * 1024,
            max_pending_bytes: 64 * 1024 * 1024,
            fsync: true,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub appended: AtomicU64,
    pub fsyncs: AtomicU64,
    pub corrupt_records: AtomicU64,
    pub truncated_bytes: AtomicU64,
}

/// State shared by the API handle (readers, appenders) and the writer thread.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: SegmentLogOptions,
    pub segments: SegmentList,
    pub head: AtomicU64,
    pub first: AtomicU64,
    pub head_tx: watch::Sender<Offset>,
    pub cache: Mutex<RecentCache>,
    pub cursors: Mutex<CursorTable>,
    pub pending_bytes: AtomicUsize,
    pub closed: AtomicBool,
    pub counters: Counters,
    /// Offsets already reported corrupt, so repeated reads do not recount them.
    pub known_corrupt: Mutex<HashSet<Offset>>,
}

/// An accepted append: answered at once, or waiting for the writer's group commit.
enum Queued {
    Ready(Offset),
    Waiting(oneshot::Receiver<Result<Offset, LogError>>),
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Durable [`ChannelLog`] over a directory of segment files.
pub struct SegmentLog {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
}

impl SegmentLog {
    /// Opens (creating if needed) the log in `dir`, recovering from any crash, and starts its
    /// writer thread.
    pub fn open(dir: &Path, mut opts: SegmentLogOptions) -> Result<Arc<Self>, LogError> {
        opts.max_record_bytes = opts.max_record_bytes.min(u32::MAX as usize);
        let recovered = recover(dir, opts.fsync)?;
        let cursor_file = CursorFile::new(dir, opts.fsync);
        let persisted = cursor_file.load()?;
        let first = recovered
            .segments
            .first()
            .map_or(recovered.head, |s| s.base);
        let (head_tx, _) = watch::channel(recovered.head);
        let counters = Counters::default();
        counters
            .corrupt_records
            .store(recovered.corrupt_offsets.len() as u64, Ordering::Relaxed);
        counters
            .truncated_bytes
            .store(recovered.truncated_bytes, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segments: SegmentList::new(recovered.segments),
            head: AtomicU64::new(recovered.head),
            first: AtomicU64::new(first),
            head_tx,
            cache: Mutex::new(RecentCache::new(CACHE_RECORDS, CACHE_BYTES)),
            cursors: Mutex::new(CursorTable {
                values: persisted.clone(),
                dirty: false,
            }),
            pending_bytes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            counters,
            known_corrupt: Mutex::new(recovered.corrupt_offsets.into_iter().collect()),
            opts,
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(
            Arc::clone(&shared),
            rx,
            recovered.active,
            recovered.active_len,
            cursor_file,
            persisted,
        );
        std::thread::Builder::new()
            .name("herald-log-writer".into())
            .spawn(move || writer.run())?;
        Ok(Arc::new(Self { shared, tx }))
    }

    /// Validates and queues an append; the receiver resolves once it is durable.
    fn enqueue(&self, payloads: Vec<Bytes>) -> Result<Queued, LogError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        if payloads.is_empty() {
            return Ok(Queued::Ready(self.head()));
        }
        let max = self.shared.opts.max_record_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > max) {
            return Err(LogError::TooLarge { size: p.len(), max });
        }
        let bytes: usize = payloads.iter().map(Bytes::len).sum();
        let before = self.shared.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before > 0 && before.saturating_add(bytes) > self.shared.opts.max_pending_bytes {
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(LogError::Full);
        }
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Append {
                payloads,
                bytes,
                reply,
            })
            .is_err()
        {
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(LogError::Closed);
        }
        Ok(Queued::Waiting(rx))
    }

    fn note_corrupt(&self, segment: Offset, offset: Offset) {
        if lock(&self.shared.known_corrupt).insert(offset) {
            self.shared
                .counters
                .corrupt_records
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(dir = %self.shared.dir.display(), segment, offset, "record checksum mismatch; skipping the record");
        }
    }
}

impl ChannelLog for SegmentLog {
    fn append(&self, payloads: Vec<Bytes>) -> BoxFuture<'_, Result<Offset, LogError>> {
        // Queue now, not on first poll, so appends are ordered as they were called.
        let queued = self.enqueue(payloads);
        Box::pin(async move {
            match queued? {
                Queued::Ready(offset) => Ok(offset),
                Queued::Waiting(rx) => rx.await.unwrap_or(Err(LogError::Closed)),
            }
        })
    }

    fn read(
        &self,
        from: Offset,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError> {
        let head = self.head();
        let from = from.max(self.first());
        if from >= head || max_records == 0 {
            return Ok(Vec::new());
        }
        if let Some(records) = lock(&self.shared.cache).read(from, head, max_records, max_bytes) {
            return Ok(records);
        }
        segments::read(
            &self.shared.segments,
            from,
            head,
            max_records,
            max_bytes,
            |segment, offset| {
                self.note_corrupt(segment, offset);
            },
        )
    }

    fn head(&self) -> Offset {
        self.shared.head.load(Ordering::Acquire)
    }

    fn first(&self) -> Offset {
        self.shared.first.load(Ordering::Acquire)
    }

    fn watch_head(&self) -> watch::Receiver<Offset> {
        self.shared.head_tx.subscribe()
    }

    fn cursor(&self, name: &str) -> Result<Option<Offset>, LogError> {
        Ok(lock(&self.shared.cursors).values.get(name).copied())
    }

    fn set_cursor(&self, name: &str, next: Offset) -> Result<(), LogError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        let mut table = lock(&self.shared.cursors);
        if table.values.get(name) != Some(&next) {
            table.values.insert(name.to_owned(), next);
            table.dirty = true;
        }
        Ok(())
    }

    fn remove_cursor(&self, name: &str) -> Result<(), LogError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        let mut table = lock(&self.shared.cursors);
        if table.values.remove(name).is_some() {
            table.dirty = true;
        }
        Ok(())
    }

    fn cursors(&self) -> Vec<(String, Offset)> {
        lock(&self.shared.cursors)
            .values
            .iter()
            .map(|(n, o)| (n.clone(), *o))
            .collect()
    }

    fn stats(&self) -> LogStats {
        let (segments, bytes) = {
            let list = self
                .shared
                .segments
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            (list.len() as u64, list.iter().map(|s| s.end).sum())
        };
        let c = &self.shared.counters;
        LogStats {
            first: self.first(),
            head: self.head(),
            segments,
            bytes,
            appended: c.appended.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            corrupt_records: c.corrupt_records.load(Ordering::Relaxed),
            truncated_bytes: c.truncated_bytes.load(Ordering::Relaxed),
        }
    }

    fn close(&self) -> BoxFuture<'_, Result<(), LogError>> {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send(Command::Close { reply }).is_ok();
        self.shared.closed.store(true, Ordering::Release);
        Box::pin(async move {
            if !sent {
                return Ok(());
            }
            rx.await.unwrap_or(Ok(()))
        })
    }
}
