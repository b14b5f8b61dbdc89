//! Reader cursors: an in-memory table that `set_cursor` updates cheaply, and one checksummed file
//! that the writer thread rewrites (temp file + fsync + rename) at most every flush interval.
//!
//! File layout (little endian): `"HCUR" | version u8 | 3 reserved | count u32 |
//! count × (name_len u32 | name utf-8 | next u64) | crc32c u32 of everything before it`.
//! A file that fails its checksum or does not parse is reported and treated as absent: every
//! reader is then unknown and the caller restarts it from `first()` (redelivery, never loss).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Offset;
use crate::format::{read_u32, read_u64};

const MAGIC: &[u8; 4] = b"HCUR";
const VERSION: u8 = 1;
pub(crate) const FILE_NAME: &str = "cursors";
const TMP_NAME: &str = "cursors.tmp";

/// Cursors as the API sees them; `dirty` means the file is behind.
#[derive(Default)]
pub(crate) struct CursorTable {
    pub values: BTreeMap<String, Offset>,
    pub dirty: bool,
}

pub(crate) fn encode(values: &BTreeMap<String, Offset>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + values.len() * 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for (name, next) in values {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&next.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a cursor file; `Err` names the problem.
pub(crate) fn decode(bytes: &[u8]) -> Result<BTreeMap<String, Offset>, String> {
    let body_len = bytes.len().checked_sub(4).ok_or("file is too short")?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body) != read_u32(crc) {
        return Err("checksum mismatch".into());
    }
    let mut rest = body.strip_prefix(MAGIC.as_slice()).ok_or("bad magic")?;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err("truncated entry".into());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let version = take(4)?[0];
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let count = read_u32(take(4)?);
    let mut values = BTreeMap::new();
    for _ in 0..count {
        let len = read_u32(take(4)?) as usize;
        let name = std::str::from_utf8(take(len)?)
            .map_err(|_| "name is not utf-8")?
            .to_owned();
        values.insert(name, read_u64(take(8)?));
    }
    if !rest.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(values)
}

/// Where the cursor file lives and how carefully to write it.
pub(crate) struct CursorFile {
    path: PathBuf,
    tmp: PathBuf,
    fsync: bool,
}

impl CursorFile {
    pub fn new(dir: &Path, fsync: bool) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            tmp: dir.join(TMP_NAME),
            fsync,
        }
    }

    /// Loads the persisted cursors; a missing or damaged file yields none (damage is logged).
    pub fn load(&self) -> io::Result<BTreeMap<String, Offset>> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        Ok(decode(&bytes).unwrap_or_else(|problem| {
            tracing::error!(file = %self.path.display(), "cursor file is corrupt ({problem}); treating every cursor as absent");
            BTreeMap::new()
        }))
    }

    /// Atomically replaces the file: a crash leaves either the old or the new content.
    pub fn save(&self, values: &BTreeMap<String, Offset>) -> io::Result<()> {
        let mut file = File::create(&self.tmp)?;
        file.write_all(&encode(values))?;
        if self.fsync {
            file.sync_data()?;
        }
        drop(file);
        fs::rename(&self.tmp, &self.path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, Offset)]) -> BTreeMap<String, Offset> {
        entries.iter().map(|(n, o)| (n.to_string(), *o)).collect()
    }

    #[test]
    fn round_trips() {
        for entries in [
            &[][..],
            &[("a", 1)],
            &[("uid-1", 5), ("weird/../name ü\n", u64::MAX), ("", 0)],
        ] {
            let values = table(entries);
            assert_eq!(decode(&encode(&values)).unwrap(), values);
        }
    }

    #[test]
    fn rejects_damage() {
        let good = encode(&table(&[("a", 1), ("b", 2)]));
        let mut flipped = good.clone();
        flipped[10] ^= 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("short", good[..3].to_vec()),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("flipped", flipped),
            ("extended", [good.as_slice(), b"x"].concat()),
        ];
        for (what, bytes) in cases {
            assert!(decode(&bytes).is_err(), "{what}");
        }
    }

    #[test]
    fn file_save_load_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let file = CursorFile::new(dir.path(), true);
        assert!(file.load().unwrap().is_empty());
        let values = table(&[("t1", 10), ("t2", 20)]);
        file.save(&values).unwrap();
        assert_eq!(file.load().unwrap(), values);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        bytes[14] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert!(file.load().unwrap().is_empty());
    }
}
