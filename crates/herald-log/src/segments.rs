//! In-memory view of the segment files: committed length, sparse offset index, and the read path.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use crate::format::SEGMENT_HEADER_LEN;
use crate::io_util::{Frame, FrameReader};
use crate::{LogError, Offset, Record, batch_full};

/// One index entry per this many bytes of records: a lookup scans at most ~4 KiB.
pub(crate) const INDEX_INTERVAL: u64 = 4096;
/// Bytes fetched per positioned read on the read path.
const READ_CHUNK: usize = 64 * 1024;

/// What readers know about one segment. Only committed (fsync'd) bytes are described.
pub(crate) struct SegmentMeta {
    pub base: Offset,
    pub path: PathBuf,
    /// Read-only handle; readers clone the `Arc` and drop the lock before doing I/O.
    pub file: Arc<File>,
    /// Committed, valid bytes (header included); reads never go past it.
    pub end: u64,
    /// One past the last record (`base` when empty).
    pub next: Offset,
    /// Sparse `(offset, position)` pairs, ascending.
    pub index: Vec<(Offset, u64)>,
    last_indexed: Option<u64>,
}

impl SegmentMeta {
    pub fn new(base: Offset, path: PathBuf, file: File, end: u64) -> Self {
        Self {
            base,
            path,
            file: Arc::new(file),
            end,
            next: base,
            index: Vec::new(),
            last_indexed: None,
        }
    }

    /// Notes a record at `pos`, indexing it if the previous entry is far enough behind.
    pub fn note_record(&mut self, offset: Offset, pos: u64) {
        if self
            .last_indexed
            .is_none_or(|last| pos.saturating_sub(last) >= INDEX_INTERVAL)
        {
            self.index.push((offset, pos));
            self.last_indexed = Some(pos);
        }
    }

    /// Position from which a forward scan reaches `offset` soonest.
    fn locate(&self, offset: Offset) -> u64 {
        let i = self.index.partition_point(|&(o, _)| o <= offset);
        if i == 0 {
            SEGMENT_HEADER_LEN
        } else {
            self.index[i - 1].1
        }
    }
}

pub(crate) type SegmentList = RwLock<Vec<SegmentMeta>>;

/// Where to continue reading, captured under the lock so the I/O happens without it.
struct Cursor {
    file: Arc<File>,
    pos: u64,
    end: u64,
    base: Offset,
    following: Option<Offset>,
}

fn position(list: &SegmentList, next: Offset) -> Option<Cursor> {
    let list = list.read().unwrap_or_else(PoisonError::into_inner);
    let i = list.partition_point(|s| s.base <= next).saturating_sub(1);
    let seg = list.get(i)?;
    Some(Cursor {
        file: Arc::clone(&seg.file),
        pos: seg.locate(next),
        end: seg.end,
        base: seg.base,
        following: list.get(i + 1).map(|s| s.base),
    })
}

/// Reads committed records `>= from` and `< head`, skipping corrupt ones (`on_corrupt` is told).
/// Framing that became unreadable after open ends that segment; reading resumes at the next one.
pub(crate) fn read(
    list: &SegmentList,
    from: Offset,
    head: Offset,
    max_records: usize,
    max_bytes: usize,
    mut on_corrupt: impl FnMut(Offset, Offset),
) -> Result<Vec<Record>, LogError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut next = from;
    while next < head {
        let Some(at) = position(list, next) else {
            break;
        };
        let mut reader = FrameReader::new(&at.file, at.pos, at.end, READ_CHUNK);
        while !reader.at_end() {
            let frame = reader.peek(false)?;
            let Frame::Record {
                header,
                complete: true,
                ..
            } = frame
            else {
                tracing::error!(
                    segment = at.base,
                    position = reader.pos,
                    "unreadable record framing in a committed segment; skipping the rest of it"
                );
                break;
            };
            if header.offset >= head {
                return Ok(out);
            }
            if header.offset >= next {
                if batch_full(
                    out.len(),
                    bytes,
                    header.len as usize,
                    max_records,
                    max_bytes,
                ) {
                    return Ok(out);
                }
                let Frame::Record { payload, .. } = reader.peek(true)? else {
                    break;
                };
                if header.payload_ok(&payload) {
                    bytes += payload.len();
                    out.push(Record {
                        offset: header.offset,
                        payload: payload.into(),
                    });
                } else {
                    on_corrupt(at.base, header.offset);
                }
                next = header.offset + 1;
            }
            reader.pos += header.frame_len();
        }
        // `position` picked the last segment starting at or below `next`, so the following one
        // starts above it: this always makes progress.
        match at.following {
            Some(base) => next = next.max(base),
            None => break,
        }
    }
    Ok(out)
}
