//! One measured run: start the sink (and Herald), drive the load, sample CPU at the window's
//! edges, drain, and check that every accepted event arrived.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::clock::Clock;
use crate::herald::{Herald, Launch, SetupTimes, Triggers};
use crate::load::{self, Ids, LoadConfig, Sent};
use crate::procfs::{self, MachineCpu};
use crate::sink::{Receipt, Sink};
use crate::stats::Latency;

/// What a run sends to.
#[derive(Debug, Clone)]
pub enum Target {
    /// Straight to the sink: the baseline, the cost of the generator and sink alone.
    Direct,
    /// Through a Herald Broker (and its Triggers) to the sink.
    Herald {
        launch: Launch,
        data_parent: PathBuf,
        triggers: Triggers,
    },
}

impl Target {
    /// `direct`, `herald` (one Trigger), `herald-ingress` (none), `herald-10-triggers` (fan-out)
    /// or `herald-10000-filtered`.
    pub fn name(&self) -> String {
        match self {
            Target::Direct => "direct".into(),
            Target::Herald { triggers, .. } => match triggers {
                Triggers::None => "herald-ingress".into(),
                Triggers::Fanout(1) | Triggers::Held => "herald".into(),
                Triggers::Fanout(n) => format!("herald-{n}-triggers"),
                Triggers::Filtered(n) => format!("herald-{n}-filtered"),
            },
        }
    }

    /// Deliveries each accepted event should produce.
    pub fn routes(&self) -> u32 {
        match self {
            Target::Direct => 1,
            Target::Herald { triggers, .. } => triggers.routes(),
        }
    }
}

/// Herald's own resource use during the measured window.
#[derive(Debug, Clone)]
pub struct HeraldUse {
    pub cpu_us_per_event: f64,
    /// Average cores Herald kept busy over the window.
    pub cores: f64,
    pub rss_kib: u64,
    pub fsync: bool,
    /// `fdatasync` calls per second on the Broker's log over the window (from Herald's
    /// `herald_log_fsyncs` metric), when Herald exposes it: group commit shows as events/fsync > 1.
    pub fsyncs_per_s: Option<f64>,
}

/// Everything one run measured. "Measured" counts cover only events sent in the window; the
/// loss check covers every accepted event, warm-up included.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub name: String,
    /// Deliveries each accepted event should produce (0 without Triggers, n for a fan-out).
    pub routes: u32,
    pub window_s: f64,
    pub accepted: u64,
    pub errors: BTreeMap<String, u64>,
    pub ingress: Latency,
    pub delivered_in_window: u64,
    pub e2e: Latency,
    pub accepted_total: u64,
    /// Deliveries expected for every accepted event (warm-up included) and those that arrived.
    pub expected: u64,
    pub delivered_of_accepted: u64,
    pub missing: u64,
    pub missing_sample: Vec<u64>,
    pub duplicates: u64,
    /// Delivered although the sender saw no 2xx (e.g. a timeout after the event was stored).
    pub unacknowledged_delivered: u64,
    pub foreign: u64,
    pub drain: Duration,
    pub herald: Option<HeraldUse>,
    pub setup: Option<SetupTimes>,
    pub bench_cpu_us_per_event: f64,
    pub machine_busy_pct: f64,
    pub steal_pct: f64,
    /// Cores busy with anything but Herald and this process (builds, tests, the kernel's own
    /// threads): the idle check. Figures taken with this well above zero are contended.
    pub other_cores: f64,
}

impl RunResult {
    pub fn accepted_per_s(&self) -> f64 {
        self.accepted as f64 / self.window_s
    }
    pub fn delivered_per_s(&self) -> f64 {
        self.delivered_in_window as f64 / self.window_s
    }
}

pub struct Settings {
    pub load: LoadConfig,
    pub drain_timeout: Duration,
    pub clock: Clock,
    pub ids: Arc<Ids>,
    pub client: reqwest::Client,
}

struct CpuSample {
    herald_ticks: Option<u64>,
    own_ticks: u64,
    machine: MachineCpu,
}

fn sample(herald_pid: Option<&str>) -> CpuSample {
    CpuSample {
        herald_ticks: herald_pid.and_then(|p| procfs::cpu_ticks(p).ok()),
        own_ticks: procfs::cpu_ticks("self").unwrap_or(0),
        machine: MachineCpu::read(),
    }
}

pub async fn run(target: &Target, s: &Settings) -> Result<RunResult> {
    let sink = Sink::start(s.clock).await?;
    let herald = match target {
        Target::Direct => None,
        Target::Herald {
            launch,
            data_parent,
            ..
        } => {
            let (launch, parent) = (launch.clone(), data_parent.clone());
            let h = tokio::task::spawn_blocking(move || Herald::start(&launch, &parent))
                .await
                .context("starting Herald")??;
            Some(h)
        }
    };
    let result = measure(target, s, &sink, herald.as_ref()).await;
    if let Some(h) = herald {
        h.stop().await?;
    }
    sink.stop().await;
    result
}

async fn measure(
    target: &Target,
    s: &Settings,
    sink: &Sink,
    herald: Option<&Herald>,
) -> Result<RunResult> {
    let (url, setup) = match (herald, target) {
        (Some(h), Target::Herald { triggers, .. }) => {
            let (url, times) = h.setup(&s.client, &sink.url, *triggers).await?;
            (url, Some(times))
        }
        _ => (format!("{}/", sink.url), None),
    };
    let cfg = LoadConfig {
        target: url,
        ..s.load.clone()
    };
    let pid = herald.map(|h| h.pid.clone());
    let start = Instant::now() + Duration::from_millis(50);
    let window_start = start + cfg.warmup;
    let window_end = window_start + cfg.duration;
    let load = {
        let (cfg, client, ids, clock) = (cfg.clone(), s.client.clone(), s.ids.clone(), s.clock);
        tokio::spawn(async move { load::run(&cfg, &client, clock, &ids, start).await })
    };
    let metrics_url = herald.map(|h| format!("{}/_herald/metrics", h.ingress));
    tokio::time::sleep_until(window_start.into()).await;
    let before = sample(pid.as_deref());
    let fsyncs_before = fsyncs(&s.client, metrics_url.as_deref()).await;
    tokio::time::sleep_until(window_end.into()).await;
    let after = sample(pid.as_deref());
    let fsyncs_after = fsyncs(&s.client, metrics_url.as_deref()).await;
    let sent = load.await.context("the load generator failed")?;

    let drain_started = Instant::now();
    let accepted_ids: Vec<u64> = sent
        .iter()
        .filter(|x| is_2xx(x.status))
        .map(|x| x.id)
        .collect();
    let routes = target.routes();
    let receipts = drain(sink, &accepted_ids, routes, s.drain_timeout).await;
    let drain = drain_started.elapsed();
    let rss_kib = pid
        .as_deref()
        .and_then(|p| procfs::rss_kib(p).ok())
        .unwrap_or(0);

    let window_s = cfg.duration.as_secs_f64();
    let (ws, we) = (s.clock.unix_ns(window_start), s.clock.unix_ns(window_end));
    let mut r = summarize(
        target.name(),
        window_s,
        &sent,
        &accepted_ids,
        routes,
        &receipts,
        (ws, we),
    );
    r.setup = setup;
    r.foreign = sink.foreign();
    r.drain = drain;
    let ticks_per_s = procfs::clock_ticks() as f64;
    let per_event = |ticks: u64| {
        let events = r.accepted.max(1) as f64;
        ticks as f64 / ticks_per_s * 1e6 / events
    };
    let own_ticks = after.own_ticks.saturating_sub(before.own_ticks);
    r.bench_cpu_us_per_event = per_event(own_ticks);
    (r.machine_busy_pct, r.steal_pct) = after.machine.usage_since(&before.machine);
    let herald_ticks = match (before.herald_ticks, after.herald_ticks) {
        (Some(b), Some(a)) => a.saturating_sub(b),
        _ => 0,
    };
    let cores = procfs::cores() as f64;
    let ours = (own_ticks + herald_ticks) as f64 / ticks_per_s / window_s;
    r.other_cores = (r.machine_busy_pct / 100.0 * cores - ours).max(0.0);
    if let (Some(b), Some(a), Target::Herald { launch, .. }) =
        (before.herald_ticks, after.herald_ticks, target)
    {
        let ticks = a.saturating_sub(b);
        r.herald = Some(HeraldUse {
            cpu_us_per_event: per_event(ticks),
            cores: ticks as f64 / ticks_per_s / window_s,
            rss_kib,
            fsync: !launch.no_fsync,
            fsyncs_per_s: match (fsyncs_before, fsyncs_after) {
                (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / window_s),
                _ => None,
            },
        });
    }
    Ok(r)
}

/// Herald's `herald_log_fsyncs` gauge, or `None` if the metric is not there (older builds).
pub async fn fsyncs(client: &reqwest::Client, url: Option<&str>) -> Option<u64> {
    let text = client.get(url?).send().await.ok()?.text().await.ok()?;
    metric_value(&text, "herald_log_fsyncs")
}

/// The sum of every sample of `name` in Prometheus text, labelled or not (Herald labels its log
/// gauges per broker; the benchmark has one broker).
fn metric_value(text: &str, name: &str) -> Option<u64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once('}')?.1,
                None => rest,
            };
            rest.strip_prefix(' ')?.trim().parse::<f64>().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
}

pub fn is_2xx(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Waits until the sink holds every accepted event on each of `routes` or the timeout passes,
/// then returns what it received. The exact check runs only when the raw count says it could
/// pass, so polling stays cheap while events are still flowing.
pub async fn drain(sink: &Sink, accepted: &[u64], routes: u32, timeout: Duration) -> Vec<Receipt> {
    let deadline = Instant::now() + timeout;
    let mut checked_at = u64::MAX;
    loop {
        let received = sink.received();
        if received >= accepted.len() as u64 * u64::from(routes) && received != checked_at {
            checked_at = received;
            let receipts = sink.receipts();
            let got: HashSet<(u64, u32)> = receipts.iter().map(|r| (r.id, r.route)).collect();
            if accepted
                .iter()
                .all(|id| (0..routes).all(|route| got.contains(&(*id, route))))
            {
                return receipts;
            }
        }
        if Instant::now() >= deadline {
            return sink.receipts();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Turns raw sends and receipts into the report's figures (pure, so it is unit-tested). Every
/// accepted event should arrive once on each of `routes`; `(ws, we)` is the measured window in
/// unix ns.
pub fn summarize(
    name: String,
    window_s: f64,
    sent: &[Sent],
    accepted_ids: &[u64],
    routes: u32,
    receipts: &[Receipt],
    (ws, we): (u64, u64),
) -> RunResult {
    let mut errors = BTreeMap::new();
    let mut ingress = Vec::new();
    for x in sent.iter().filter(|x| x.measured) {
        if is_2xx(x.status) {
            ingress.push(x.latency_ns);
        } else {
            let key = match x.status {
                0 => "no answer".to_string(),
                code => code.to_string(),
            };
            *errors.entry(key).or_insert(0u64) += 1;
        }
    }
    // First receipt per event and route; later ones are duplicates.
    let mut first: HashMap<(u64, u32), Receipt> = HashMap::with_capacity(receipts.len());
    let mut duplicates = 0;
    for r in receipts {
        match first.entry((r.id, r.route)) {
            std::collections::hash_map::Entry::Occupied(_) => duplicates += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(*r);
            }
        }
    }
    let delivered_in_window = receipts
        .iter()
        .filter(|r| (ws..we).contains(&r.recv_ns))
        .count() as u64;
    let mut e2e: Vec<u64> = first
        .values()
        .filter(|r| (ws..we).contains(&r.sent_ns))
        .map(|r| r.recv_ns.saturating_sub(r.sent_ns))
        .collect();
    let mut missing = 0u64;
    let mut missing_ids: Vec<u64> = Vec::new();
    for id in accepted_ids {
        let absent = (0..routes)
            .filter(|route| !first.contains_key(&(*id, *route)))
            .count() as u64;
        if absent > 0 {
            missing += absent;
            missing_ids.push(*id);
        }
    }
    missing_ids.sort_unstable();
    let accepted_set: HashSet<u64> = accepted_ids.iter().copied().collect();
    let unacknowledged_delivered = first
        .keys()
        .filter(|(id, _)| !accepted_set.contains(id))
        .count();
    missing_ids.truncate(10);
    let expected = accepted_ids.len() as u64 * u64::from(routes);
    RunResult {
        name,
        routes,
        window_s,
        accepted: ingress.len() as u64,
        errors,
        ingress: Latency::from_samples(&mut ingress),
        delivered_in_window,
        e2e: Latency::from_samples(&mut e2e),
        accepted_total: accepted_ids.len() as u64,
        expected,
        delivered_of_accepted: expected - missing,
        missing,
        missing_sample: missing_ids,
        duplicates,
        unacknowledged_delivered: unacknowledged_delivered as u64,
        foreign: 0,
        drain: Duration::ZERO,
        herald: None,
        setup: None,
        bench_cpu_us_per_event: 0.0,
        machine_busy_pct: 0.0,
        steal_pct: 0.0,
        other_cores: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: u64, status: u16, measured: bool) -> Sent {
        Sent {
            id,
            latency_ns: id * 1000,
            status,
            measured,
        }
    }

    fn receipt(id: u64, sent_ns: u64, recv_ns: u64) -> Receipt {
        Receipt {
            id,
            route: 0,
            sent_ns,
            recv_ns,
        }
    }

    #[test]
    fn prometheus_value() {
        let text = "# HELP herald_log_fsyncs x\n# TYPE herald_log_fsyncs gauge\n\
                    herald_log_fsyncs_total 9\nherald_log_fsyncs 1234\n\
                    herald_log_fsyncs{namespace=\"default\",broker=\"b\"} 6\n";
        assert_eq!(metric_value(text, "herald_log_fsyncs"), Some(1240));
        assert_eq!(metric_value(text, "herald_log_appended"), None);
    }

    #[test]
    fn loss_duplicates_and_window() {
        let sends = [
            sent(1, 202, false), // warm-up: checked for loss, not counted
            sent(2, 202, true),
            sent(3, 202, true), // lost
            sent(4, 503, true),
            sent(5, 0, true),
        ];
        let accepted: Vec<u64> = sends
            .iter()
            .filter(|s| is_2xx(s.status))
            .map(|s| s.id)
            .collect();
        let receipts = [
            receipt(1, 50, 60),
            receipt(2, 100, 130),
            receipt(2, 100, 180), // duplicate
            receipt(4, 110, 140), // delivered though the sender saw 503
        ];
        let r = summarize(
            "herald".into(),
            1.0,
            &sends,
            &accepted,
            1,
            &receipts,
            (100, 200),
        );
        assert_eq!(r.accepted, 2);
        assert_eq!(r.errors.get("503"), Some(&1));
        assert_eq!(r.errors.get("no answer"), Some(&1));
        assert_eq!(
            (r.accepted_total, r.delivered_of_accepted, r.missing),
            (3, 2, 1)
        );
        assert_eq!(r.missing_sample, vec![3]);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.unacknowledged_delivered, 1);
        assert_eq!(r.delivered_in_window, 3);
        assert_eq!(r.e2e.count, 2);
        assert_eq!(r.e2e.max, 30);
    }

    #[test]
    fn fan_out_counts_each_route() {
        let sends = [sent(1, 202, true), sent(2, 202, true)];
        let accepted = [1, 2];
        let on = |id, route| Receipt {
            route,
            ..receipt(id, 100, 150)
        };
        let receipts = [on(1, 0), on(1, 1), on(2, 0), on(2, 0)];
        let r = summarize("f".into(), 1.0, &sends, &accepted, 2, &receipts, (100, 200));
        assert_eq!((r.expected, r.delivered_of_accepted, r.missing), (4, 3, 1));
        assert_eq!((r.missing_sample.clone(), r.duplicates), (vec![2], 1));
        let none = summarize("i".into(), 1.0, &sends, &accepted, 0, &[], (100, 200));
        assert_eq!((none.expected, none.missing), (0, 0));
    }
}
