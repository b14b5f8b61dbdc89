//! The writer thread: group commit, segment rolls, cursor persistence and retention.
//! It is the only code that writes files, so none of that needs cross-thread coordination.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::cursor::CursorFile;
use crate::format::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, encode_record};
use crate::recovery::create_segment;
use crate::segment_log::{Shared, lock};
use crate::{LogError, Offset, Record};

/// Cursors are persisted at most this often; `set_cursor` only touches memory.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

pub(crate) enum Command {
    Append {
        payloads: Vec<Bytes>,
        bytes: usize,
        reply: oneshot::Sender<Result<Offset, LogError>>,
    },
    Close {
        reply: oneshot::Sender<Result<(), LogError>>,
    },
}

struct Waiting {
    payloads: Vec<Bytes>,
    bytes: usize,
    reply: oneshot::Sender<Result<Offset, LogError>>,
}

/// Records of the batch being committed; `records[written..]` are not on disk yet.
#[derive(Default)]
struct Staged {
    records: Vec<Record>,
    written: usize,
    unwritten_bytes: u64,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<Command>,
    active: File,
    /// Bytes written to the active segment, published or not.
    active_len: u64,
    /// Next offset to assign.
    next: Offset,
    cursor_file: CursorFile,
    /// Cursors as last written to disk; retention trusts only these.
    persisted: BTreeMap<String, Offset>,
    last_flush: Instant,
}

impl Writer {
    pub fn new(
        shared: Arc<Shared>,
        rx: Receiver<Command>,
        active: File,
        active_len: u64,
        cursor_file: CursorFile,
        persisted: BTreeMap<String, Offset>,
    ) -> Self {
        let next = shared.head.load(Ordering::Acquire);
        Self {
            shared,
            rx,
            active,
            active_len,
            next,
            cursor_file,
            persisted,
            last_flush: Instant::now(),
        }
    }

    pub fn run(mut self) {
        loop {
            match self.rx.recv_timeout(FLUSH_INTERVAL) {
                Ok(command) => {
                    let mut batch = Vec::new();
                    let mut close = None;
                    let mut next = Some(command);
                    // Group commit: everything queued so far shares one fsync.
                    while let Some(command) = next {
                        match command {
                            Command::Append {
                                payloads,
                                bytes,
                                reply,
                            } => {
                                batch.push(Waiting {
                                    payloads,
                                    bytes,
                                    reply,
                                });
                                next = self.rx.try_recv().ok();
                            }
                            Command::Close { reply } => {
                                close = Some(reply);
                                next = None;
                            }
                        }
                    }
                    if !batch.is_empty() && !self.commit_batch(batch) {
                        let _ = self.stop();
                        return;
                    }
                    if let Some(reply) = close {
                        let result = self.stop();
                        let _ = reply.send(result);
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.stop();
                    return;
                }
            }
            if self.last_flush.elapsed() >= FLUSH_INTERVAL && lock(&self.shared.cursors).dirty {
                self.flush_cursors_logged();
                self.retain();
            }
        }
    }

    /// Writes, syncs and publishes a batch, then answers every waiter. False after an I/O error.
    fn commit_batch(&mut self, batch: Vec<Waiting>) -> bool {
        let mut replies = Vec::with_capacity(batch.len());
        let mut staged = Staged::default();
        let mut rolled = false;
        let mut result = Ok(());
        for waiting in batch {
            let first = self.next;
            if result.is_ok() {
                for payload in waiting.payloads {
                    match self.stage(payload, &mut staged) {
                        Ok(did_roll) => rolled |= did_roll,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
            }
            replies.push((waiting.reply, first, waiting.bytes));
        }
        let result = result.and_then(|()| self.write_and_publish(&mut staged));
        let pending: usize = replies.iter().map(|(_, _, bytes)| bytes).sum();
        self.shared
            .pending_bytes
            .fetch_sub(pending, Ordering::AcqRel);
        if let Err(e) = result {
            tracing::error!(dir = %self.shared.dir.display(), error = %e, "segment log write failed; the log stops accepting appends until reopened");
            self.shared.closed.store(true, Ordering::Release);
            for (reply, _, _) in replies {
                let _ = reply.send(Err(LogError::Io(io::Error::new(e.kind(), e.to_string()))));
            }
            return false;
        }
        let count = staged.records.len() as u64;
        {
            let mut cache = lock(&self.shared.cache);
            for record in staged.records {
                cache.push(record);
            }
        }
        self.shared
            .counters
            .appended
            .fetch_add(count, Ordering::Relaxed);
        self.shared.head.store(self.next, Ordering::Release);
        self.shared.head_tx.send_replace(self.next);
        for (reply, first, _) in replies {
            let _ = reply.send(Ok(first));
        }
        if rolled {
            self.flush_cursors_logged();
            self.retain();
        }
        true
    }

    /// Assigns the next offset to `payload`, first flushing and rolling if it would overflow the
    /// active segment. Returns whether it rolled.
    fn stage(&mut self, payload: Bytes, staged: &mut Staged) -> io::Result<bool> {
        let frame = (RECORD_HEADER_LEN + payload.len()) as u64;
        let used = self.active_len + staged.unwritten_bytes;
        let rolled = used > SEGMENT_HEADER_LEN && used + frame > self.shared.opts.segment_bytes;
        if rolled {
            self.write_and_publish(staged)?;
            self.roll()?;
        }
        staged.records.push(Record {
            offset: self.next,
            payload,
        });
        staged.unwritten_bytes += frame;
        self.next += 1;
        Ok(rolled)
    }

    /// Writes the staged records not yet on disk to the active segment, fsyncs once, and adds
    /// them to the segment index (readers still wait for `head`).
    fn write_and_publish(&mut self, staged: &mut Staged) -> io::Result<()> {
        let fresh = &staged.records[staged.written..];
        let Some(last) = fresh.last() else {
            return Ok(());
        };
        let next = last.offset + 1;
        let mut buf = Vec::with_capacity(staged.unwritten_bytes as usize);
        let mut positions = Vec::with_capacity(fresh.len());
        for record in fresh {
            positions.push((record.offset, self.active_len + buf.len() as u64));
            encode_record(&mut buf, record.offset, &record.payload);
        }
        self.active.write_all(&buf)?;
        self.active_len += buf.len() as u64;
        if self.shared.opts.fsync {
            self.active.sync_data()?;
            self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        staged.written = staged.records.len();
        staged.unwritten_bytes = 0;
        let mut list = self
            .shared
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(seg) = list.last_mut() {
            for (offset, pos) in positions {
                seg.note_record(offset, pos);
            }
            seg.end = self.active_len;
            seg.next = next;
        }
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        let (meta, file) =
            create_segment(&self.shared.dir, self.next, self.shared.opts.fsync).map_err(into_io)?;
        self.shared
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(meta);
        self.active = file;
        self.active_len = SEGMENT_HEADER_LEN;
        Ok(())
    }

    fn flush_cursors_logged(&mut self) {
        if let Err(e) = self.flush_cursors() {
            tracing::error!(dir = %self.shared.dir.display(), error = %e, "persisting cursors failed; will retry");
        }
    }

    fn flush_cursors(&mut self) -> io::Result<()> {
        let snapshot = {
            let mut table = lock(&self.shared.cursors);
            if !table.dirty {
                return Ok(());
            }
            table.dirty = false;
            table.values.clone()
        };
        self.last_flush = Instant::now();
        if let Err(e) = self.cursor_file.save(&snapshot) {
            lock(&self.shared.cursors).dirty = true;
            return Err(e);
        }
        self.persisted = snapshot;
        Ok(())
    }

    /// Deletes closed segments from the front once every persisted cursor is past them.
    fn retain(&mut self) {
        let min = self.persisted.values().min().copied();
        let removed: Vec<_> = {
            let mut list = self
                .shared
                .segments
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let mut n = 0;
            while n + 1 < list.len() && min.is_none_or(|m| m >= list[n].next) {
                n += 1;
            }
            let removed = list.drain(..n).collect();
            if let Some(first) = list.first() {
                self.shared.first.store(first.base, Ordering::Release);
            }
            removed
        };
        for seg in removed {
            match fs::remove_file(&seg.path) {
                Ok(()) => {
                    tracing::debug!(segment = %seg.path.display(), "segment released by every cursor; deleted")
                }
                Err(e) => {
                    tracing::warn!(segment = %seg.path.display(), error = %e, "deleting a released segment failed")
                }
            }
        }
    }

    /// Final cursor flush (failures are also logged); marks the log closed.
    fn stop(&mut self) -> Result<(), LogError> {
        self.shared.closed.store(true, Ordering::Release);
        self.flush_cursors().map_err(|e| {
            tracing::error!(dir = %self.shared.dir.display(), error = %e, "final cursor flush failed");
            LogError::Io(e)
        })
    }
}

fn into_io(e: LogError) -> io::Error {
    match e {
        LogError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
