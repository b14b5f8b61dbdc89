//! `--pin`: Herald and the benchmark process on separate CPUs, through `taskset`.
//!
//! On a machine with many cores this keeps the load generator and the sink from taking Herald's
//! cores (and its caches). On 2 cores it gives each side exactly one core, which caps Herald at
//! one core: a closed-loop run then measures Herald on one core against a generator on the other,
//! not the machine's ceiling. BENCHMARKS.md says which runs used it.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::procfs;

/// Which CPUs each side gets (`taskset -c` lists).
#[derive(Debug, Clone)]
pub struct Pinning {
    pub herald: String,
    pub bench: String,
}

/// The lower half of the cores for the benchmark, the upper half for Herald; `None` on one core
/// or without `taskset`.
pub fn plan() -> Option<Pinning> {
    let n = procfs::cores();
    let have_taskset = Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if n < 2 || !have_taskset {
        eprintln!("herald-bench: --pin needs taskset and at least 2 cores; not pinning");
        return None;
    }
    Some(split(n))
}

fn split(n: usize) -> Pinning {
    let half = n / 2;
    let list = |a: usize, b: usize| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    };
    Pinning {
        bench: list(0, half - 1),
        herald: list(half, n - 1),
    }
}

/// Pins every thread of this process (the runtime's workers exist already) to `cpus`.
pub fn pin_self(cpus: &str) -> Result<()> {
    let pid = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset -a -p -c {cpus} {pid} failed: {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves() {
        let p = split(2);
        assert_eq!((p.bench.as_str(), p.herald.as_str()), ("0", "1"));
        let p = split(8);
        assert_eq!((p.bench.as_str(), p.herald.as_str()), ("0-3", "4-7"));
    }
}
