//! Positioned reads through a small buffer, so scanning many small records costs few syscalls
//! and readers never share a file cursor.

use std::fs::File;
use std::io;

use crate::format::{RECORD_HEADER_LEN, RecordHeader, decode_record_header};

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

/// Fills `buf` from `pos`, returning how many bytes were read (short only at end of file).
fn read_full_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match read_at(file, &mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// What the next frame in a segment looks like.
pub(crate) enum Frame {
    /// A readable header. `complete` says whether the whole frame lies before `end`; `payload`
    /// is filled only when complete and asked for.
    Record {
        header: RecordHeader,
        complete: bool,
        payload: Vec<u8>,
    },
    /// Fewer than a header's bytes remain before `end`.
    Short,
    /// Header checksum failed.
    Unreadable,
}

/// Sequential frame reader over `[pos, end)` of one segment file.
pub(crate) struct FrameReader<'a> {
    file: &'a File,
    pub pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
}

impl<'a> FrameReader<'a> {
    pub fn new(file: &'a File, pos: u64, end: u64, chunk: usize) -> Self {
        Self {
            file,
            pos,
            end,
            buf: Vec::new(),
            buf_start: pos,
            chunk,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// Returns `[at, at+len)` from the buffer, refilling it if needed; `None` past `end`.
    fn bytes(&mut self, at: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let want_end = at.saturating_add(len as u64);
        if want_end > self.end {
            return Ok(None);
        }
        let covered = at >= self.buf_start && want_end <= self.buf_start + self.buf.len() as u64;
        if !covered {
            let span = (self.end - at).min(len.max(self.chunk) as u64) as usize;
            self.buf.resize(span, 0);
            let n = read_full_at(self.file, &mut self.buf, at)?;
            self.buf.truncate(n);
            self.buf_start = at;
            if n < len {
                return Ok(None);
            }
        }
        let from = (at - self.buf_start) as usize;
        Ok(Some(&self.buf[from..from + len]))
    }

    /// Reads the frame at `pos` without advancing; `with_payload` skips payload I/O when false.
    pub fn peek(&mut self, with_payload: bool) -> io::Result<Frame> {
        let pos = self.pos;
        let Some(raw) = self.bytes(pos, RECORD_HEADER_LEN)? else {
            return Ok(Frame::Short);
        };
        let mut arr = [0u8; RECORD_HEADER_LEN];
        arr.copy_from_slice(raw);
        let Some(header) = decode_record_header(&arr) else {
            return Ok(Frame::Unreadable);
        };
        let payload_at = pos + RECORD_HEADER_LEN as u64;
        let complete = payload_at.saturating_add(u64::from(header.len)) <= self.end;
        let mut payload = Vec::new();
        if complete && with_payload {
            match self.bytes(payload_at, header.len as usize)? {
                Some(bytes) => payload.extend_from_slice(bytes),
                // The file is shorter than its recorded length: treat as torn.
                None => {
                    return Ok(Frame::Record {
                        header,
                        complete: false,
                        payload,
                    });
                }
            }
        }
        Ok(Frame::Record {
            header,
            complete,
            payload,
        })
    }
}

/// Reads up to `len` bytes at `pos` (short at end of file).
pub(crate) fn read_prefix(file: &File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let n = read_full_at(file, &mut buf, pos)?;
    buf.truncate(n);
    Ok(buf)
}
