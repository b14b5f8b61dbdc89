//! What `/proc` says about a process and the machine.
//!
//! CPU time per event is the figure that survives a noisy neighbour on a 2-core VM (wall-clock
//! rates swing 6–10× there), so it is read from the kernel's own accounting rather than estimated.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Clock ticks per second of `/proc/<pid>/stat` times, from `getconf CLK_TCK` (100 on Linux
/// unless the kernel was built otherwise).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// User + system CPU of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_cpu(&text).with_context(|| format!("parsing {path}"))
}

fn parse_stat_cpu(text: &str) -> Result<u64> {
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last ')'. There, index 0 is field 3 (state), so utime (14) and stime (15) are 11 and 12.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() < 13 {
        bail!("too few fields");
    }
    let utime: u64 = fields[11].parse().context("utime")?;
    let stime: u64 = fields[12].parse().context("stime")?;
    Ok(utime + stime)
}

/// Resident memory of a process in KiB (`VmRSS`).
pub fn rss_kib(pid: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    field_kib(&text, "VmRSS:").with_context(|| format!("no VmRSS in {path}"))
}

fn field_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Machine-wide CPU counters (first line of `/proc/stat`), to tell how busy the whole box was and
/// how much time the hypervisor stole during the window.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    pub total: u64,
    pub idle: u64,
    pub steal: u64,
}

impl MachineCpu {
    pub fn read() -> Self {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_proc_stat(&t))
            .unwrap_or_default()
    }

    /// (busy %, steal %) of all cores between two readings.
    pub fn usage_since(&self, earlier: &MachineCpu) -> (f64, f64) {
        let total = self.total.saturating_sub(earlier.total) as f64;
        if total <= 0.0 {
            return (0.0, 0.0);
        }
        let idle = self.idle.saturating_sub(earlier.idle) as f64;
        let steal = self.steal.saturating_sub(earlier.steal) as f64;
        (100.0 * (total - idle) / total, 100.0 * steal / total)
    }
}

fn parse_proc_stat(text: &str) -> Option<MachineCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    if v.len() < 8 {
        return None;
    }
    Some(MachineCpu {
        total: v[..8].iter().sum(),
        idle: v[3] + v[4],
        steal: v[7],
    })
}

/// Bytes a directory tree occupies on disk (allocated blocks, so sparse or preallocated
/// segment files count as the disk sees them).
pub fn disk_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Online cores, as `nproc` counts them.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The machine the figures come from, as BENCHMARKS.md must state it.
pub fn machine(data_dir: &Path) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let (device, fstype) = filesystem(data_dir).unwrap_or_else(|| ("?".into(), "?".into()));
    json!({
        "cores": cores(),
        "cpu_model": model,
        "memory_mib": field_kib(&meminfo, "MemTotal:").map(|k| k / 1024),
        "kernel": read_trim("/proc/sys/kernel/osrelease"),
        "loadavg_before": read_trim("/proc/loadavg"),
        "data_dir": data_dir.display().to_string(),
        "data_dir_device": device,
        "data_dir_fs": fstype,
    })
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Device and filesystem type of the mount holding `path` (longest mount-point prefix in
/// `/proc/self/mountinfo`): a tmpfs data dir would make fsync free and the figures meaningless.
fn filesystem(path: &Path) -> Option<(String, String)> {
    let path = std::fs::canonicalize(path).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let mut r = right.split_whitespace();
            let fstype = r.next()?;
            let device = r.next()?;
            path.starts_with(mount_point)
                .then(|| (mount_point.len(), device.to_string(), fstype.to_string()))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, d, f)| (d, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_name() {
        let line = "123 (my (odd) prog) S 1 123 123 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0";
        assert_eq!(parse_stat_cpu(line).ok(), Some(325));
        assert!(parse_stat_cpu("123 (x) S 1").is_err());
    }

    #[test]
    fn proc_stat_and_status() {
        let stat = "cpu  100 0 50 800 50 0 0 10 0 0\ncpu0 1 2 3\n";
        let m = parse_proc_stat(stat).unwrap_or_default();
        assert_eq!((m.total, m.idle, m.steal), (1010, 850, 10));
        let (busy, steal) = m.usage_since(&MachineCpu::default());
        assert!((busy - 100.0 * 160.0 / 1010.0).abs() < 1e-9 && steal > 0.0);
        assert_eq!(
            field_kib("Name:\tx\nVmRSS:\t  4242 kB\n", "VmRSS:"),
            Some(4242)
        );
    }

    #[test]
    fn disk_usage_counts_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sub = dir.path().join("a");
        std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(sub.join("f"), vec![1u8; 10_000]).unwrap_or_else(|e| panic!("{e}"));
        assert!(disk_bytes(dir.path()) >= 10_000);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_ticks("self").is_ok());
        assert!(rss_kib("self").map(|k| k > 0).unwrap_or(false));
    }
}
