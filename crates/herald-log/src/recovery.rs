//! Opening a segment directory: verify every record, cut torn tails, skip corrupt records,
//! and hand the writer an append handle positioned after the last valid byte.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::format::{
    SEGMENT_HEADER_LEN, check_segment_header, encode_segment_header, parse_segment_file_name,
    segment_file_name,
};
use crate::io_util::{Frame, FrameReader, read_prefix};
use crate::segments::SegmentMeta;
use crate::{LogError, Offset};

/// Recovery reads segments in large sequential chunks.
const SCAN_CHUNK: usize = 1024 * 1024;

pub(crate) struct Recovered {
    pub segments: Vec<SegmentMeta>,
    /// Append handle to the last segment.
    pub active: File,
    /// Bytes in the last segment (its append position).
    pub active_len: u64,
    pub head: Offset,
    pub corrupt_offsets: Vec<Offset>,
    pub truncated_bytes: u64,
}

/// Creates a new empty segment at `base` and makes its directory entry durable.
pub(crate) fn create_segment(
    dir: &Path,
    base: Offset,
    fsync: bool,
) -> Result<(SegmentMeta, File), LogError> {
    let path = dir.join(segment_file_name(base));
    let mut writer = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    writer.write_all(&encode_segment_header(base))?;
    if fsync {
        writer.sync_data()?;
        sync_dir(dir)?;
    }
    let reader = File::open(&path)?;
    Ok((
        SegmentMeta::new(base, path, reader, SEGMENT_HEADER_LEN),
        writer,
    ))
}

/// Makes creations, renames and deletions in `dir` durable (no-op where unsupported).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Result of checking one segment file.
struct Scan {
    meta: SegmentMeta,
    file_len: u64,
    /// Where valid data ends when something after it was rejected.
    problem: Option<String>,
}

fn scan_segment(path: PathBuf, base: Offset, corrupt: &mut Vec<Offset>) -> Result<Scan, LogError> {
    let file = File::open(&path)?;
    let file_len = file.metadata()?.len();
    let header = read_prefix(&file, 0, SEGMENT_HEADER_LEN as usize)?;
    if let Err(problem) = check_segment_header(&header, base) {
        let meta = SegmentMeta::new(base, path, file, 0);
        return Ok(Scan {
            meta,
            file_len,
            problem: Some(format!("segment {problem}")),
        });
    }
    let mut meta = SegmentMeta::new(base, path, file, SEGMENT_HEADER_LEN);
    let reader_file = std::sync::Arc::clone(&meta.file);
    let mut reader = FrameReader::new(&reader_file, SEGMENT_HEADER_LEN, file_len, SCAN_CHUNK);
    let mut problem = None;
    while !reader.at_end() {
        let pos = reader.pos;
        let (header, payload) = match reader.peek(true)? {
            Frame::Record {
                header,
                complete: true,
                payload,
            } => (header, payload),
            Frame::Record {
                complete: false, ..
            }
            | Frame::Short => {
                problem = Some(format!("partial record at byte {pos}"));
                break;
            }
            Frame::Unreadable => {
                problem = Some(format!("unreadable record header at byte {pos}"));
                break;
            }
        };
        if header.offset != meta.next {
            problem = Some(format!(
                "record at byte {pos} has offset {} where {} was expected",
                header.offset, meta.next
            ));
            break;
        }
        if !header.payload_ok(&payload) {
            tracing::error!(segment = %meta.path.display(), offset = header.offset, "record checksum mismatch; skipping the record");
            corrupt.push(header.offset);
        }
        meta.note_record(header.offset, pos);
        meta.next = header.offset + 1;
        reader.pos = pos + header.frame_len();
        meta.end = reader.pos;
    }
    Ok(Scan {
        meta,
        file_len,
        problem,
    })
}

/// Lists segment bases in `dir`, ascending; other files are ignored.
fn list_bases(dir: &Path) -> Result<Vec<Offset>, LogError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

pub(crate) fn recover(dir: &Path, fsync: bool) -> Result<Recovered, LogError> {
    fs::create_dir_all(dir)?;
    let bases = list_bases(dir)?;
    let mut segments: Vec<SegmentMeta> = Vec::new();
    let mut corrupt_offsets = Vec::new();
    let mut truncated_bytes = 0u64;
    let mut head: Offset = 0;
    let mut last_usable = false;
    for (i, &base) in bases.iter().enumerate() {
        let is_last = i + 1 == bases.len();
        let path = dir.join(segment_file_name(base));
        if base < head {
            tracing::error!(segment = %path.display(), head, "segment overlaps earlier offsets; ignoring it");
            last_usable = false;
            continue;
        }
        let scan = scan_segment(path, base, &mut corrupt_offsets)?;
        let mut meta = scan.meta;
        if let Some(problem) = scan.problem {
            let lost = scan.file_len.saturating_sub(meta.end);
            truncated_bytes += lost;
            if is_last {
                tracing::warn!(segment = %meta.path.display(), lost_bytes = lost, "{problem}; truncating the tail");
                let file = OpenOptions::new().write(true).open(&meta.path)?;
                if meta.end < SEGMENT_HEADER_LEN {
                    file.set_len(0)?;
                    (&file).write_all(&encode_segment_header(base))?;
                    meta.end = SEGMENT_HEADER_LEN;
                } else {
                    file.set_len(meta.end)?;
                }
                if fsync {
                    file.sync_all()?;
                }
            } else {
                tracing::error!(segment = %meta.path.display(), ignored_bytes = lost, "{problem}; keeping the records before it and continuing with the next segment");
            }
        }
        head = head.max(meta.next);
        segments.push(meta);
        last_usable = is_last;
    }
    let (active, active_len) = if last_usable && let Some(last) = segments.last() {
        (OpenOptions::new().append(true).open(&last.path)?, last.end)
    } else {
        let (meta, file) = create_segment(dir, head, fsync)?;
        segments.push(meta);
        (file, SEGMENT_HEADER_LEN)
    };
    Ok(Recovered {
        segments,
        active,
        active_len,
        head,
        corrupt_offsets,
        truncated_bytes,
    })
}
