//! The backlog scenario: a subscriber that stops answering, `--backlog` events published behind
//! it, Herald restarted (SIGTERM, then SIGKILL) with that backlog, and the drain once the
//! subscriber is back.
//!
//! The stopped subscriber is the sink *paused*: it accepts connections and answers nothing until
//! resumed. Herald then holds its Trigger's `concurrency` deliveries in flight (the Trigger's
//! delivery timeout is an hour, so they wait rather than fail) and leaves every other event in the
//! log. A closed port would cost about as little per event, but Herald would retry with back-off
//! (and, with Knative's default `retry: 0`, drop the event), so the drain would start whenever
//! the back-off timer fired and would measure the retry policy, not Herald.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::herald::{Herald, Launch, Triggers};
use crate::load::{self, LoadConfig};
use crate::procfs;
use crate::run::{self, Settings};
use crate::sink::Sink;

/// Settling time after the fill, so RSS and disk are read in a steady state.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
pub struct Backlog {
    /// Events accepted (2xx) during the fill: the backlog.
    pub queued: u64,
    pub fill: Duration,
    /// Non-2xx answers during the fill.
    pub fill_errors: u64,
    pub fill_cpu_us_per_event: f64,
    /// Herald's RSS and data-directory size with the backlog queued.
    pub rss_queued_kib: u64,
    pub disk_bytes: u64,
    /// SIGTERM restart: time to exit, time from spawn until ready.
    pub term_stop: Duration,
    pub term_ready: Duration,
    /// RSS a second after the SIGTERM restart (the backlog still queued).
    pub rss_restarted_kib: u64,
    /// SIGKILL restart: time from spawn until ready.
    pub kill_ready: Duration,
    /// From the subscriber's return to the last event's arrival.
    pub drain: Duration,
    pub drained: u64,
    pub drain_cpu_us_per_event: f64,
    pub rss_end_kib: u64,
    pub missing: u64,
    pub missing_sample: Vec<u64>,
    pub duplicates: u64,
}

impl Backlog {
    pub fn fill_per_s(&self) -> f64 {
        self.queued as f64 / self.fill.as_secs_f64().max(1e-9)
    }
    pub fn drain_per_s(&self) -> f64 {
        self.drained as f64 / self.drain.as_secs_f64().max(1e-9)
    }
}

pub async fn run(launch: &Launch, parent: &Path, events: u64, s: &Settings) -> Result<Backlog> {
    let sink = Sink::start(s.clock).await?;
    let h = {
        let (launch, parent) = (launch.clone(), parent.to_path_buf());
        tokio::task::spawn_blocking(move || Herald::start(&launch, &parent))
            .await
            .context("starting Herald")??
    };
    let result = measure(h, &sink, events, s).await;
    sink.stop().await;
    result
}

async fn measure(mut h: Herald, sink: &Sink, events: u64, s: &Settings) -> Result<Backlog> {
    let (url, _) = h.setup(&s.client, &sink.url, Triggers::Held).await?;
    sink.pause();
    let mut b = Backlog::default();

    eprintln!("herald-bench:   filling the backlog with {events} events ...");
    let cfg = LoadConfig {
        target: url,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(24 * 3600),
        rate: None,
        count: Some(events),
        ..s.load.clone()
    };
    let ticks = procfs::cpu_ticks(&h.pid).unwrap_or(0);
    let t = Instant::now();
    let sent = load::run(&cfg, &s.client, s.clock, &s.ids, Instant::now()).await;
    b.fill = t.elapsed();
    let accepted: Vec<u64> = sent
        .iter()
        .filter(|x| run::is_2xx(x.status))
        .map(|x| x.id)
        .collect();
    b.queued = accepted.len() as u64;
    b.fill_errors = sent.len() as u64 - b.queued;
    b.fill_cpu_us_per_event = cpu_us(&h.pid, ticks, b.queued);

    tokio::time::sleep(SETTLE).await;
    b.rss_queued_kib = procfs::rss_kib(&h.pid).unwrap_or(0);
    b.disk_bytes = procfs::disk_bytes(&h.data_dir());

    eprintln!("herald-bench:   restarting Herald (SIGTERM, then SIGKILL) ...");
    (b.term_stop, b.term_ready) = h.restart(&s.client, false).await?;
    tokio::time::sleep(SETTLE).await;
    b.rss_restarted_kib = procfs::rss_kib(&h.pid).unwrap_or(0);
    (_, b.kill_ready) = h.restart(&s.client, true).await?;

    eprintln!("herald-bench:   draining ...");
    let ticks = procfs::cpu_ticks(&h.pid).unwrap_or(0);
    let resumed_ns = s.clock.now_ns();
    sink.resume();
    // Generous: a drain far slower than this is a finding in itself.
    let timeout = s.drain_timeout + Duration::from_secs(events / 1000);
    let receipts = run::drain(sink, &accepted, 1, timeout).await;
    b.rss_end_kib = procfs::rss_kib(&h.pid).unwrap_or(0);
    let last_ns = receipts
        .iter()
        .map(|r| r.recv_ns)
        .max()
        .unwrap_or(resumed_ns);
    b.drain = Duration::from_nanos(last_ns.saturating_sub(resumed_ns));
    b.drained = receipts.len() as u64;
    b.drain_cpu_us_per_event = cpu_us(&h.pid, ticks, b.drained);
    let r = run::summarize(
        "backlog".into(),
        1.0,
        &sent,
        &accepted,
        1,
        &receipts,
        (0, 0),
    );
    (b.missing, b.missing_sample, b.duplicates) = (r.missing, r.missing_sample, r.duplicates);
    h.stop().await?;
    Ok(b)
}

/// Herald's CPU since `ticks_before`, per event, in µs.
fn cpu_us(pid: &str, ticks_before: u64, events: u64) -> f64 {
    let ticks = procfs::cpu_ticks(pid)
        .unwrap_or(0)
        .saturating_sub(ticks_before);
    ticks as f64 / procfs::clock_ticks() as f64 * 1e6 / events.max(1) as f64
}
