//! The most recent committed records, kept in memory so readers at the head (the common case)
//! never touch the disk. Payloads are shared `Bytes`, so caching costs no copies.

use std::collections::VecDeque;

use crate::{Offset, Record, batch_full};

pub(crate) struct RecentCache {
    records: VecDeque<Record>,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
}

impl RecentCache {
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            records: VecDeque::new(),
            bytes: 0,
            max_records,
            max_bytes,
        }
    }

    /// Adds a newly committed record; offsets must be contiguous with the previous one.
    pub fn push(&mut self, record: Record) {
        if self
            .records
            .back()
            .is_some_and(|last| last.offset + 1 != record.offset)
        {
            self.records.clear();
            self.bytes = 0;
        }
        self.bytes += record.payload.len();
        self.records.push_back(record);
        while self.records.len() > self.max_records || self.bytes > self.max_bytes {
            let Some(old) = self.records.pop_front() else {
                break;
            };
            self.bytes -= old.payload.len();
        }
    }

    /// Serves `[from, head)` if the cache covers `from`; `None` sends the reader to disk.
    pub fn read(
        &self,
        from: Offset,
        head: Offset,
        max_records: usize,
        max_bytes: usize,
    ) -> Option<Vec<Record>> {
        let first = self.records.front()?.offset;
        if from < first {
            return None;
        }
        let skip = usize::try_from(from - first).ok()?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for record in self.records.iter().skip(skip) {
            if record.offset >= head
                || batch_full(
                    out.len(),
                    bytes,
                    record.payload.len(),
                    max_records,
                    max_bytes,
                )
            {
                break;
            }
            bytes += record.payload.len();
            out.push(record.clone());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: Offset, len: usize) -> Record {
        Record {
            offset,
            payload: vec![0u8; len].into(),
        }
    }

    #[test]
    fn serves_covered_ranges_within_limits() {
        let mut cache = RecentCache::new(3, 1000);
        for o in 10..15 {
            cache.push(rec(o, 10));
        }
        // Keeps only the 3 newest: 12, 13, 14.
        let offsets =
            |v: Option<Vec<Record>>| v.map(|v| v.iter().map(|r| r.offset).collect::<Vec<_>>());
        // (from, head, max_records, max_bytes, expected offsets; None = not cached)
        type Case = (Offset, Offset, usize, usize, Option<Vec<Offset>>);
        let cases: Vec<Case> = vec![
            (11, 15, 10, 1000, None),
            (12, 15, 10, 1000, Some(vec![12, 13, 14])),
            (12, 14, 10, 1000, Some(vec![12, 13])),
            (13, 15, 1, 1000, Some(vec![13])),
            (12, 15, 10, 15, Some(vec![12])),
            (12, 15, 10, 1, Some(vec![12])), // at least one record
            (15, 15, 10, 1000, Some(vec![])),
        ];
        for (from, head, max_records, max_bytes, want) in cases {
            assert_eq!(
                offsets(cache.read(from, head, max_records, max_bytes)),
                want,
                "from {from}"
            );
        }
    }

    #[test]
    fn gap_resets_and_bytes_bound() {
        let mut cache = RecentCache::new(100, 25);
        cache.push(rec(0, 10));
        cache.push(rec(1, 10));
        cache.push(rec(2, 10)); // evicts 0
        assert!(cache.read(0, 3, 10, 100).is_none());
        cache.push(rec(7, 1)); // gap: start over
        assert!(cache.read(2, 8, 10, 100).is_none());
        assert_eq!(cache.read(7, 8, 10, 100).map(|v| v.len()), Some(1));
    }
}
