//! Command-line options.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

/// Drive CloudEvents through a Herald Broker (and straight to the sink as a baseline) and report
/// throughput, latency, CPU and memory.
#[derive(Debug, Parser)]
#[command(name = "herald-bench", version)]
pub struct Args {
    /// The herald binary to benchmark.
    #[arg(long, default_value = "target/release/herald")]
    pub herald: PathBuf,
    /// Measured time per mode (after the warm-up): `10s`, `500ms`, `2m`, or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring; its events are delivered and checked but not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Concurrent senders, each with its own keep-alive connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Event body size in bytes.
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    /// Open-loop rate in events/s over all connections; without it each connection sends its
    /// next event as soon as the previous one is answered (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// What to measure: Herald, the direct-to-sink baseline, or both in the same run.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// Start Herald with its hidden `--unsafe-no-fsync` flag (a 202 then does not survive a
    /// crash). Reported as such.
    #[arg(long)]
    pub no_fsync: bool,
    /// Where Herald's temporary data directory is created; the filesystem under it decides
    /// what fsync costs.
    #[arg(long)]
    pub data_parent: Option<PathBuf>,
    /// How long to wait after the load for the sink to receive every accepted event.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run the whole suite of issue 9 in one go (HTTP ceiling, ingress only, 1 / fan-out /
    /// filtered Triggers, latency at 20 % and 50 % of the max, backlog, startup and idle RSS)
    /// and print one report with ratios and targets. `--duration`/`--warmup` apply to each
    /// throughput and latency scenario; `--mode` and `--rate` are ignored.
    #[arg(long)]
    pub suite: bool,
    /// Suite: events queued behind the stopped subscriber in the backlog scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub backlog: u64,
    /// Suite: Triggers in the filtered scenario (exact `type` filters, one of them matching).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub triggers: u32,
    /// Suite: Triggers in the fan-out scenario (no filter: each event delivered this many times).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub fanout: u32,
    /// Suite: cold starts of `herald serve` on an empty data directory (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub startups: u32,
    /// Refuse to run when the machine is busy before the start (more than 0.2 core used over
    /// 1 s); without it the tool warns and runs.
    #[arg(long)]
    pub require_idle: bool,
    /// Pin Herald and this process to separate halves of the CPUs with `taskset`.
    #[arg(long)]
    pub pin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Herald,
    Direct,
    Both,
}

impl Args {
    /// Rejects combinations that would make a run meaningless before anything is started.
    pub fn validate(&self) -> Result<()> {
        if self.duration.is_zero() {
            bail!("--duration must be more than zero");
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            bail!("--rate must be a positive number of events per second");
        }
        if self.size > 64 * 1024 * 1024 {
            bail!("--size above 64 MiB is not a benchmark of events");
        }
        Ok(())
    }
}

/// Parses `10s`, `250ms`, `2m`, `1.5s` or a bare number of seconds. Written here because the
/// workspace has no duration-parsing crate and the needs are this small.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 10s, 500ms or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => bail!("unknown duration unit {other:?} in {text:?} (use ms, s or m)"),
    };
    if !(0.0..=86_400.0).contains(&seconds) {
        bail!("duration {text:?} is out of range (0 to 24 h)");
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("10s", Some(10_000)),
            ("500ms", Some(500)),
            ("2m", Some(120_000)),
            ("1.5s", Some(1_500)),
            ("3", Some(3_000)),
            ("", None),
            ("s", None),
            ("10h", None),
            ("-1s", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis());
            assert_eq!(got, want, "{text}");
        }
    }
}
