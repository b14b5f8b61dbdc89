//! Where a ContainerSource's process output goes: one size-capped file per source under the
//! data directory, rotated once (`.log` → `.log.1`), so `herald logs` can read it and a chatty
//! process cannot fill the disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size at which the log rotates; at most twice this is kept per source.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// `<data_dir>/sources/logs/<namespace>/containersources/<name>.log`.
pub fn path(data_dir: &Path, namespace: &str, name: &str) -> PathBuf {
    data_dir
        .join("sources")
        .join("logs")
        .join(namespace)
        .join("containersources")
        .join(format!("{name}.log"))
}

/// The previous (rotated) file of a log.
pub fn rotated(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// An append-only log file that keeps one older generation once it reaches `cap` bytes.
pub struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
    cap: u64,
}

impl RotatingLog {
    /// Opens (creating directories as needed) the log at `path`, appending.
    pub fn open(path: &Path, cap: u64) -> io::Result<RotatingLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_path_buf(),
            file,
            size,
            cap,
        })
    }

    /// Appends `bytes`, rotating first when they would push the file past its cap.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.cap {
            std::fs::rename(&self.path, rotated(&self.path))?;
            self.file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn path_layout() {
        assert_eq!(
            path(Path::new("/d"), "ns", "src"),
            PathBuf::from("/d/sources/logs/ns/containersources/src.log")
        );
        assert_eq!(rotated(Path::new("/d/x.log")), PathBuf::from("/d/x.log.1"));
    }

    #[test]
    fn rotates_once_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "ns", "s");
        let mut log = RotatingLog::open(&p, 10).unwrap();
        log.write(b"12345").unwrap();
        log.write(b"6789").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"123456789");
        log.write(b"abc").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert_eq!(std::fs::read(rotated(&p)).unwrap(), b"123456789");
        log.write(b"defghijk").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"defghijk");
        assert_eq!(std::fs::read(rotated(&p)).unwrap(), b"abc");
        // Reopening appends and remembers the size.
        let mut again = RotatingLog::open(&p, 10).unwrap();
        again.write(b"lm").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"defghijklm");
    }
}
