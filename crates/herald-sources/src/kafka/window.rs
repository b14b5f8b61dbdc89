//! The commit position of one partition while records are delivered, possibly several at once
//! (`ordering: unordered`): the offset to commit is the lowest one still in flight, or past the
//! last started record when none is, so a restart never skips an undelivered record. Pure.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    in_flight: BTreeSet<i64>,
    /// The offset after the last record started (offsets may have gaps: compaction, markers).
    next: i64,
    committed: i64,
}

impl Window {
    /// A window starting at the committed offset `start`.
    pub fn new(start: i64) -> Self {
        Window {
            in_flight: BTreeSet::new(),
            next: start,
            committed: start,
        }
    }

    /// The next offset to fetch.
    pub fn next(&self) -> i64 {
        self.next
    }

    /// A record's delivery started.
    pub fn start(&mut self, offset: i64) {
        self.in_flight.insert(offset);
        self.next = self.next.max(offset + 1);
    }

    /// A record was delivered (or dead-lettered); returns the new commit position when it moved.
    pub fn finish(&mut self, offset: i64) -> Option<i64> {
        self.in_flight.remove(&offset);
        let at = self.in_flight.first().copied().unwrap_or(self.next);
        (at > self.committed).then(|| {
            self.committed = at;
            at
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_up_to_the_lowest_record_in_flight() {
        let mut w = Window::new(10);
        for o in [10, 11, 13] {
            w.start(o);
        }
        assert_eq!(w.next(), 14);
        assert_eq!(w.finish(11), None, "10 is still in flight");
        assert_eq!(w.finish(10), Some(13), "13 is the lowest in flight");
        assert_eq!(w.finish(13), Some(14), "the gap at 12 is skipped");
    }

    #[test]
    fn ordered_delivery_commits_each_record() {
        let mut w = Window::new(0);
        w.start(0);
        assert_eq!(w.finish(0), Some(1));
        w.start(1);
        assert_eq!(w.finish(1), Some(2));
    }
}
