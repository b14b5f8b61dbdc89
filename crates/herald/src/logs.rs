//! `herald logs containersource/<name>`: prints a ContainerSource's process output. `herald serve`
//! writes it to `<data-dir>/sources/logs/…` (see `herald_sources::logs`), so this reads the file
//! directly: it works on the machine running `herald serve`, with the same `--data-dir`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cli::LogsArgs;

/// How often `--follow` looks for new output.
const POLL: Duration = Duration::from_millis(250);

/// The ContainerSource name in `containersource/<name>` (plural, `.sources.knative.dev` or a
/// bare name work too).
pub fn source_name(target: &str) -> Result<&str, String> {
    let (kind, name) = match target.split_once('/') {
        Some((k, n)) => (Some(k), n),
        None => (None, target),
    };
    if let Some(kind) = kind {
        let kind = kind.to_ascii_lowercase();
        let base = kind.strip_suffix(".sources.knative.dev").unwrap_or(&kind);
        if !matches!(base, "containersource" | "containersources") {
            return Err(format!(
                "herald logs shows ContainerSources only (containersource/<name>), not {kind:?}"
            ));
        }
    }
    if name.is_empty() || name.contains('/') {
        return Err(format!("{target:?} is not containersource/<name>"));
    }
    Ok(name)
}

/// Bytes of `path` from `from` on (nothing if it does not exist).
fn read_from(path: &Path, from: u64) -> std::io::Result<Vec<u8>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

pub async fn run(args: LogsArgs) -> Result<ExitCode> {
    let name = source_name(&args.source).map_err(anyhow::Error::msg)?;
    let current = herald_sources::logs::path(&args.data_dir, &args.namespace, name);
    let previous = herald_sources::logs::rotated(&current);
    if !current.exists() && !previous.exists() {
        bail!(
            "no log for containersource {name} in namespace {} (looked for {}): it does not exist, has not started yet, or `herald serve` uses another --data-dir",
            args.namespace,
            current.display()
        );
    }
    let read = |p: &Path, from: u64| {
        read_from(p, from).with_context(|| format!("reading {}", p.display()))
    };
    print(&read(&previous, 0)?)?;
    let head = read(&current, 0)?;
    print(&head)?;
    let mut pos = head.len() as u64;
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::time::sleep(POLL).await;
        let len = std::fs::metadata(&current).map(|m| m.len()).unwrap_or(0);
        if len < pos {
            // Rotated: the rest of what we were reading is now the previous file.
            print(&read(&previous, pos)?)?;
            pos = 0;
        }
        let more = read(&current, pos)?;
        pos += more.len() as u64;
        print(&more)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        for (t, want) in [
            ("containersource/a", Ok("a")),
            ("containersources/a", Ok("a")),
            ("ContainerSource.sources.knative.dev/a", Ok("a")),
            ("a", Ok("a")),
        ] {
            assert_eq!(source_name(t), want, "{t}");
        }
        for bad in [
            "pingsource/a",
            "containersource/",
            "containersource/a/b",
            "",
        ] {
            assert!(source_name(bad).is_err(), "{bad}");
        }
    }
}
