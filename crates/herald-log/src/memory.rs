//! A bounded, volatile [`ChannelLog`] for brokers that do not need durability.
//!
//! Records below the slowest cursor are freed as soon as cursors move. With no cursors at all no
//! reader needs old records, so the oldest are evicted whenever room is needed. With cursors, a
//! full log refuses appends (`Full`) rather than drop a record a cursor still needs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

use crate::segment_log::lock;
use crate::{BoxFuture, ChannelLog, LogError, LogStats, Offset, Record, batch_full};

/// Capacity of a [`MemoryLog`].
#[derive(Clone, Debug)]
pub struct MemoryLogOptions {
    /// Most records retained (default 100 000).
    pub max_records: usize,
    /// Most payload bytes retained (default 256 MiB); also the largest single payload.
    pub max_bytes: usize,
}

impl Default for MemoryLogOptions {
    fn default() -> Self {
        Self {
            max_records: 100_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Default)]
struct State {
    records: VecDeque<Record>,
    bytes: usize,
    head: Offset,
    cursors: BTreeMap<String, Offset>,
    closed: bool,
    appended: u64,
}

impl State {
    fn first(&self) -> Offset {
        self.records.front().map_or(self.head, |r| r.offset)
    }

    fn pop_front(&mut self) {
        if let Some(r) = self.records.pop_front() {
            self.bytes -= r.payload.len();
        }
    }

    /// Frees records every cursor has passed.
    fn release(&mut self) {
        let Some(min) = self.cursors.values().min().copied() else {
            return;
        };
        while self.records.front().is_some_and(|r| r.offset < min) {
            self.pop_front();
        }
    }

    fn fits(&self, opts: &MemoryLogOptions, count: usize, bytes: usize) -> bool {
        self.records.len() + count <= opts.max_records && self.bytes + bytes <= opts.max_bytes
    }
}

/// In-memory [`ChannelLog`].
pub struct MemoryLog {
    opts: MemoryLogOptions,
    state: Mutex<State>,
    head_tx: watch::Sender<Offset>,
}

impl MemoryLog {
    pub fn new(opts: MemoryLogOptions) -> Arc<Self> {
        let (head_tx, _) = watch::channel(0);
        Arc::new(Self {
            opts,
            state: Mutex::new(State::default()),
            head_tx,
        })
    }

    fn append_now(&self, payloads: Vec<Bytes>) -> Result<Offset, LogError> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(LogError::Closed);
        }
        if payloads.is_empty() {
            return Ok(state.head);
        }
        let max = self.opts.max_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > max) {
            return Err(LogError::TooLarge { size: p.len(), max });
        }
        let bytes: usize = payloads.iter().map(Bytes::len).sum();
        if payloads.len() > self.opts.max_records || bytes > max {
            return Err(LogError::Full);
        }
        state.release();
        if state.cursors.is_empty() {
            while !state.fits(&self.opts, payloads.len(), bytes) && !state.records.is_empty() {
                state.pop_front();
            }
        }
        if !state.fits(&self.opts, payloads.len(), bytes) {
            return Err(LogError::Full);
        }
        let first = state.head;
        for payload in payloads {
            let offset = state.head;
            state.bytes += payload.len();
            state.records.push_back(Record { offset, payload });
            state.head += 1;
        }
        state.appended += state.head - first;
        self.head_tx.send_replace(state.head);
        Ok(first)
    }

    fn update_cursors(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Offset>),
    ) -> Result<(), LogError> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(LogError::Closed);
        }
        change(&mut state.cursors);
        state.release();
        Ok(())
    }
}

impl ChannelLog for MemoryLog {
    fn append(&self, payloads: Vec<Bytes>) -> BoxFuture<'_, Result<Offset, LogError>> {
        let result = self.append_now(payloads);
        Box::pin(async move { result })
    }

    fn read(
        &self,
        from: Offset,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError> {
        let state = lock(&self.state);
        let first = state.first();
        let skip = usize::try_from(from.max(first) - first).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut bytes = 0;
        for record in state.records.iter().skip(skip) {
            if batch_full(
                out.len(),
                bytes,
                record.payload.len(),
                max_records,
                max_bytes,
            ) {
                break;
            }
            bytes += record.payload.len();
            out.push(record.clone());
        }
        Ok(out)
    }

    fn head(&self) -> Offset {
        lock(&self.state).head
    }

    fn first(&self) -> Offset {
        lock(&self.state).first()
    }

    fn watch_head(&self) -> watch::Receiver<Offset> {
        self.head_tx.subscribe()
    }

    fn cursor(&self, name: &str) -> Result<Option<Offset>, LogError> {
        Ok(lock(&self.state).cursors.get(name).copied())
    }

    fn set_cursor(&self, name: &str, next: Offset) -> Result<(), LogError> {
        self.update_cursors(|c| {
            c.insert(name.to_owned(), next);
        })
    }

    fn remove_cursor(&self, name: &str) -> Result<(), LogError> {
        self.update_cursors(|c| {
            c.remove(name);
        })
    }

    fn cursors(&self) -> Vec<(String, Offset)> {
        lock(&self.state)
            .cursors
            .iter()
            .map(|(n, o)| (n.clone(), *o))
            .collect()
    }

    fn stats(&self) -> LogStats {
        let state = lock(&self.state);
        LogStats {
            first: state.first(),
            head: state.head,
            bytes: state.bytes as u64,
            appended: state.appended,
            ..LogStats::default()
        }
    }

    fn close(&self) -> BoxFuture<'_, Result<(), LogError>> {
        lock(&self.state).closed = true;
        Box::pin(async { Ok(()) })
    }
}
