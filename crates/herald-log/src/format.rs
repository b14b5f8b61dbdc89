//! Byte layout of segment files and records (see the `segment_log` module doc for the picture).
//! Pure functions: no I/O, so every corner case is unit-testable.

use crate::Offset;

/// Version written in every segment header; bump when the record layout changes.
pub(crate) const FORMAT_VERSION: u8 = 1;
const SEGMENT_MAGIC: &[u8; 4] = b"HLOG";
/// `magic(4) | version(1) | reserved(3) | base offset u64 LE (8)`.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// `len u32 | offset u64 | payload crc u32 | header crc u32`, all little endian.
pub(crate) const RECORD_HEADER_LEN: usize = 20;

/// File name of the segment whose first record is `base`; zero-padded so names sort by offset.
pub(crate) fn segment_file_name(base: Offset) -> String {
    format!("{base:020}.log")
}

/// Inverse of [`segment_file_name`]; `None` for files that are not segments.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<Offset> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_segment_header(base: Offset) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut out = [0u8; SEGMENT_HEADER_LEN as usize];
    out[..4].copy_from_slice(SEGMENT_MAGIC);
    out[4] = FORMAT_VERSION;
    out[8..].copy_from_slice(&base.to_le_bytes());
    out
}

/// Why a segment header was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    Short,
    BadMagic,
    Version(u8),
    Base { found: Offset },
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short => write!(f, "header is truncated"),
            Self::BadMagic => write!(f, "bad magic"),
            Self::Version(v) => write!(f, "unsupported format version {v}"),
            Self::Base { found } => write!(f, "header names base offset {found}"),
        }
    }
}

pub(crate) fn check_segment_header(bytes: &[u8], base: Offset) -> Result<(), HeaderProblem> {
    if bytes.len() < SEGMENT_HEADER_LEN as usize {
        return Err(HeaderProblem::Short);
    }
    if &bytes[..4] != SEGMENT_MAGIC {
        return Err(HeaderProblem::BadMagic);
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(HeaderProblem::Version(bytes[4]));
    }
    let found = read_u64(&bytes[8..16]);
    if found != base {
        return Err(HeaderProblem::Base { found });
    }
    Ok(())
}

/// A record header whose own checksum matched, so its length and offset can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub len: u32,
    pub offset: Offset,
    pub payload_crc: u32,
}

impl RecordHeader {
    /// Total bytes of the record on disk.
    pub fn frame_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.len)
    }

    pub fn payload_ok(&self, payload: &[u8]) -> bool {
        crc32c::crc32c(payload) == self.payload_crc
    }
}

/// Appends one framed record to `out`. The caller guarantees `payload.len() <= u32::MAX`.
pub(crate) fn encode_record(out: &mut Vec<u8>, offset: Offset, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 16]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes a record header; `None` when its checksum fails (the framing is unreadable).
pub(crate) fn decode_record_header(bytes: &[u8; RECORD_HEADER_LEN]) -> Option<RecordHeader> {
    let header_crc = read_u32(&bytes[16..20]);
    if crc32c::crc32c(&bytes[..16]) != header_crc {
        return None;
    }
    Some(RecordHeader {
        len: read_u32(&bytes[0..4]),
        offset: read_u64(&bytes[4..12]),
        payload_crc: read_u32(&bytes[12..16]),
    })
}

pub(crate) fn read_u32(bytes: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(a)
}

pub(crate) fn read_u64(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header_of(buf: &[u8]) -> Option<RecordHeader> {
        let arr: [u8; RECORD_HEADER_LEN] = buf[..RECORD_HEADER_LEN].try_into().unwrap();
        decode_record_header(&arr)
    }

    #[test]
    fn segment_names_round_trip() {
        for (base, name) in [
            (0, "00000000000000000000.log"),
            (42, "00000000000000000042.log"),
        ] {
            assert_eq!(segment_file_name(base), name);
            assert_eq!(parse_segment_file_name(name), Some(base));
        }
        for bad in [
            "0.log",
            "00000000000000000000.tmp",
            "0000000000000000000x.log",
            "cursors",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn segment_header_checks() {
        let good = encode_segment_header(7);
        let mut magic = good;
        magic[0] = b'X';
        let mut version = good;
        version[4] = 9;
        let cases: Vec<(&[u8], Offset, Result<(), HeaderProblem>)> = vec![
            (&good, 7, Ok(())),
            (&good[..10], 7, Err(HeaderProblem::Short)),
            (&magic, 7, Err(HeaderProblem::BadMagic)),
            (&version, 7, Err(HeaderProblem::Version(9))),
            (&good, 8, Err(HeaderProblem::Base { found: 7 })),
        ];
        for (bytes, base, want) in cases {
            assert_eq!(check_segment_header(bytes, base), want);
        }
    }

    #[test]
    fn record_round_trip_and_corruption() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 99, b"hello");
        let h = header_of(&buf).unwrap();
        assert_eq!((h.len, h.offset, h.frame_len()), (5, 99, 25));
        assert!(h.payload_ok(&buf[RECORD_HEADER_LEN..]));

        // A flipped payload byte keeps the frame readable but fails the payload check.
        let mut payload_flip = buf.clone();
        payload_flip[RECORD_HEADER_LEN + 1] ^= 1;
        assert!(
            !header_of(&payload_flip)
                .unwrap()
                .payload_ok(&payload_flip[RECORD_HEADER_LEN..])
        );

        // Any flipped header byte makes the frame unreadable.
        for i in 0..RECORD_HEADER_LEN {
            let mut flip = buf.clone();
            flip[i] ^= 0x10;
            assert_eq!(header_of(&flip), None, "byte {i}");
        }
        // Zero-filled space (a common crash artefact) is not a valid header.
        assert_eq!(header_of(&[0u8; RECORD_HEADER_LEN]), None);
    }
}
