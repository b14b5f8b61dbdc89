//! `herald-bench --suite`: every scenario of issue 9 in one run, each Herald figure next to the
//! HTTP ceiling measured in the same run, and the targets checked against them.
//!
//! Order: idle check, cold starts, HTTP ceiling, ingress only, 1 Trigger, fan-out, many filtered
//! Triggers, latency at 20 % and 50 % of the 1-Trigger max, backlog. Each Herald scenario gets a
//! fresh process and data directory. A scenario that fails is reported as failed and the suite
//! goes on; lost events make the tool exit non-zero after the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::backlog::{self, Backlog};
use crate::cli::Args;
use crate::herald::{Launch, Triggers};
use crate::pin::Pinning;
use crate::procfs::{self, MachineCpu};
use crate::run::{self, RunResult, Settings, Target};
use crate::startup::{self, Startup};
use crate::{clock, load, suite_report};

/// Busy cores before the start above which the machine does not count as idle.
pub const IDLE_LIMIT_CORES: f64 = 0.2;
/// How long the idle check samples `/proc/stat`.
const IDLE_SAMPLE: Duration = Duration::from_secs(1);
/// The latency scenario's paces, as fractions of the 1-Trigger closed-loop rate.
pub const LATENCY_PACES: [f64; 2] = [0.2, 0.5];

/// A scenario's result, or why it failed.
pub type Outcome<T> = std::result::Result<T, String>;

/// How busy the machine was just before the suite started.
#[derive(Debug, Clone, Copy)]
pub struct IdleCheck {
    pub busy_cores: f64,
    pub steal_pct: f64,
}

pub struct Suite {
    pub date: String,
    pub machine: serde_json::Value,
    pub args_line: String,
    pub fsync: bool,
    pub idle: IdleCheck,
    pub pinning: Option<Pinning>,
    pub startup: Outcome<Startup>,
    pub ceiling: RunResult,
    pub ingress: Outcome<RunResult>,
    pub one: RunResult,
    pub fanout: Outcome<RunResult>,
    pub filtered: Outcome<RunResult>,
    /// (fraction of the 1-Trigger max, pace in events/s, result).
    pub latency: Vec<(f64, f64, Outcome<RunResult>)>,
    pub backlog: Outcome<Backlog>,
    pub backlog_events: u64,
    pub filtered_triggers: u32,
    pub connections: u32,
    pub warmup_s: f64,
}

impl Suite {
    /// Events lost anywhere in the suite.
    pub fn lost(&self) -> u64 {
        let runs = [Ok(&self.ceiling), self.ingress.as_ref(), Ok(&self.one)]
            .into_iter()
            .chain([self.fanout.as_ref(), self.filtered.as_ref()])
            .chain(self.latency.iter().map(|(_, _, r)| r.as_ref()));
        let lost: u64 = runs.filter_map(|r| r.ok()).map(|r| r.missing).sum();
        lost + self.backlog.as_ref().map_or(0, |b| b.missing)
    }
}

/// Busy cores over [`IDLE_SAMPLE`], from `/proc/stat`.
async fn idle_check() -> IdleCheck {
    let before = MachineCpu::read();
    tokio::time::sleep(IDLE_SAMPLE).await;
    let (busy_pct, steal_pct) = MachineCpu::read().usage_since(&before);
    IdleCheck {
        busy_cores: busy_pct / 100.0 * procfs::cores() as f64,
        steal_pct,
    }
}

pub async fn main(
    args: &Args,
    launch: Launch,
    data_parent: PathBuf,
    pinning: Option<Pinning>,
) -> Result<()> {
    let idle = idle_check().await;
    if idle.busy_cores > IDLE_LIMIT_CORES {
        eprintln!(
            "herald-bench: WARNING: the machine is not idle: {:.2} cores busy over the last second \
             (limit {IDLE_LIMIT_CORES}); the figures will be noisy{}",
            idle.busy_cores,
            if args.require_idle {
                ""
            } else {
                " (--require-idle refuses to run)"
            }
        );
        if args.require_idle {
            bail!(
                "--require-idle: the machine is busy ({:.2} cores)",
                idle.busy_cores
            );
        }
    } else {
        eprintln!(
            "herald-bench: idle check: {:.2} cores busy; OK",
            idle.busy_cores
        );
    }
    let base = Settings {
        load: load::LoadConfig {
            target: String::new(),
            connections: args.connections,
            size: args.size,
            warmup: args.warmup,
            duration: args.duration,
            rate: None,
            count: None,
        },
        drain_timeout: args.drain_timeout,
        clock: clock::Clock::new(),
        ids: Arc::new(load::Ids::new()),
        client: load::client(args.connections)?,
    };
    let herald = |triggers| Target::Herald {
        launch: launch.clone(),
        data_parent: data_parent.clone(),
        triggers,
    };
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string();
    let machine = procfs::machine(&data_parent);

    step(&format!("cold start ×{}", args.startups));
    let startup = startup::measure(&launch, &data_parent, args.startups, &base.client)
        .await
        .map_err(|e| format!("{e:#}"));
    step("HTTP ceiling (direct to the sink)");
    let ceiling = run::run(&Target::Direct, &base).await?;
    step("ingress only (no Triggers)");
    let ingress = outcome(run::run(&herald(Triggers::None), &base).await);
    step("end to end, 1 Trigger");
    let one = run::run(&herald(Triggers::Fanout(1)), &base).await?;
    step(&format!("end to end, {} Triggers (fan-out)", args.fanout));
    let fanout = outcome(run::run(&herald(Triggers::Fanout(args.fanout)), &base).await);
    step(&format!(
        "end to end, {} Triggers with exact type filters, 1 matching",
        args.triggers
    ));
    let filtered = outcome(run::run(&herald(Triggers::Filtered(args.triggers)), &base).await);
    let max = one.delivered_per_s();
    let mut latency = Vec::new();
    for fraction in LATENCY_PACES {
        let pace = (max * fraction).max(1.0);
        step(&format!(
            "latency at {:.0} % of max ({pace:.0} events/s, open loop)",
            fraction * 100.0
        ));
        let settings = Settings {
            load: load::LoadConfig {
                rate: Some(pace),
                ..base.load.clone()
            },
            drain_timeout: base.drain_timeout,
            clock: base.clock,
            ids: base.ids.clone(),
            client: base.client.clone(),
        };
        let r = outcome(run::run(&herald(Triggers::Fanout(1)), &settings).await);
        latency.push((fraction, pace, r));
    }
    step(&format!("backlog of {} events", args.backlog));
    let backlog = backlog::run(&launch, &data_parent, args.backlog, &base)
        .await
        .map_err(|e| format!("{e:#}"));

    let suite = Suite {
        date,
        machine,
        args_line: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        fsync: !launch.no_fsync,
        idle,
        pinning,
        startup,
        ceiling,
        ingress,
        one,
        fanout,
        filtered,
        latency,
        backlog,
        backlog_events: args.backlog,
        filtered_triggers: args.triggers,
        connections: args.connections,
        warmup_s: args.warmup.as_secs_f64(),
    };
    if args.json {
        println!("{:#}", suite_report::json(&suite));
    } else {
        print!("{}", suite_report::table(&suite));
    }
    let lost = suite.lost();
    if lost > 0 {
        bail!("{lost} accepted events were lost");
    }
    Ok(())
}

fn step(what: &str) {
    eprintln!("herald-bench: {what} ...");
}

fn outcome<T>(r: Result<T>) -> Outcome<T> {
    r.map_err(|e| {
        let msg = format!("{e:#}");
        eprintln!("herald-bench:   FAILED: {msg}");
        msg
    })
}

/// One target of issue 9: what it asks, what the run measured, and whether that meets it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCheck {
    pub target: &'static str,
    pub measured: String,
    /// `None` when the scenario failed or the figure is missing.
    pub met: Option<bool>,
}

/// The issue's targets against this run's figures (pure, unit-tested).
pub fn targets(s: &Suite) -> Vec<TargetCheck> {
    let ceiling = s.ceiling.delivered_per_s();
    let one = s.one.delivered_per_s();
    let mut out = Vec::new();
    let mut check = |target, measured: Option<(String, bool)>| {
        out.push(match measured {
            Some((m, met)) => TargetCheck {
                target,
                measured: m,
                met: Some(met),
            },
            None => TargetCheck {
                target,
                measured: "not measured".into(),
                met: None,
            },
        });
    };
    let ratio = |x: f64, of: f64| (of > 0.0).then(|| x / of);
    check(
        "ingress only ≥ 0.7 × HTTP ceiling",
        s.ingress
            .as_ref()
            .ok()
            .and_then(|r| ratio(r.accepted_per_s(), ceiling))
            .map(|x| (format!("{x:.2} ×"), x >= 0.7)),
    );
    check(
        "end to end, 1 Trigger ≥ 0.35 × HTTP ceiling",
        ratio(one, ceiling).map(|x| (format!("{x:.2} ×"), x >= 0.35)),
    );
    check(
        "≤ 30 µs Herald CPU per event (ingress + append + 1 delivery)",
        s.one.herald.as_ref().map(|h| {
            (
                format!("{:.1} µs", h.cpu_us_per_event),
                h.cpu_us_per_event <= 30.0,
            )
        }),
    );
    let at20 = s
        .latency
        .iter()
        .find(|(f, _, _)| (*f - 0.2).abs() < 1e-9)
        .and_then(|(_, _, r)| r.as_ref().ok());
    check(
        "p99 end to end ≤ 5 ms at 20 % of max",
        at20.map(|r| {
            let p99 = r.e2e.p99;
            (crate::stats::human(p99), p99 <= 5_000_000)
        }),
    );
    check(
        "many filtered Triggers ≥ 0.5 × the 1-Trigger rate",
        s.filtered
            .as_ref()
            .ok()
            .and_then(|r| ratio(r.delivered_per_s(), one))
            .map(|x| (format!("{x:.2} ×"), x >= 0.5)),
    );
    let b = s.backlog.as_ref().ok();
    check(
        "backlog: RSS < 200 MB",
        b.map(|b| {
            let kib = b.rss_queued_kib.max(b.rss_restarted_kib).max(b.rss_end_kib);
            (mib(kib), kib * 1024 < 200_000_000)
        }),
    );
    check(
        "backlog: restart < 1 s",
        b.map(|b| {
            let worst = b.term_ready.max(b.kill_ready);
            (
                format!(
                    "{} (SIGTERM) / {} (SIGKILL)",
                    crate::stats::human(nanos(b.term_ready)),
                    crate::stats::human(nanos(b.kill_ready))
                ),
                worst < Duration::from_secs(1),
            )
        }),
    );
    check(
        "backlog: drain ≥ the 1-Trigger rate",
        b.and_then(|b| ratio(b.drain_per_s(), one))
            .map(|x| (format!("{x:.2} ×"), x >= 1.0)),
    );
    let st = s.startup.as_ref().ok();
    check(
        "idle RSS < 30 MB",
        st.map(|st| (mib(st.idle_rss_kib), st.idle_rss_kib * 1024 < 30_000_000)),
    );
    check(
        "herald serve ready < 100 ms (empty data dir)",
        st.map(|st| {
            let m = st.median();
            (
                format!("{} (median)", crate::stats::human(nanos(m))),
                m < Duration::from_millis(100),
            )
        }),
    );
    out
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Sent;
    use crate::run::HeraldUse;
    use crate::sink::Receipt;

    /// A one-second run that accepted and delivered `n` events, each after `e2e_ns`.
    fn result(n: u64, e2e_ns: u64) -> RunResult {
        let sent: Vec<Sent> = (0..n)
            .map(|id| Sent {
                id,
                latency_ns: 1,
                status: 202,
                measured: true,
            })
            .collect();
        let ids: Vec<u64> = (0..n).collect();
        let receipts: Vec<Receipt> = (0..n)
            .map(|id| Receipt {
                id,
                route: 0,
                sent_ns: 10,
                recv_ns: 10 + e2e_ns,
            })
            .collect();
        run::summarize("r".into(), 1.0, &sent, &ids, 1, &receipts, (0, u64::MAX))
    }

    #[test]
    fn targets_against_the_ceiling() {
        let mut one = result(40, 1_000_000);
        one.herald = Some(HeraldUse {
            cpu_us_per_event: 31.0,
            cores: 1.0,
            rss_kib: 1,
            fsync: true,
            fsyncs_per_s: None,
        });
        let suite = Suite {
            date: String::new(),
            machine: serde_json::Value::Null,
            args_line: String::new(),
            fsync: true,
            idle: IdleCheck {
                busy_cores: 0.0,
                steal_pct: 0.0,
            },
            pinning: None,
            startup: Ok(Startup {
                ready: vec![Duration::from_millis(30); 3],
                idle_rss_kib: 40 * 1024,
            }),
            ceiling: result(100, 1),
            ingress: Ok(result(70, 1)),
            one,
            fanout: Err("boom".into()),
            filtered: Ok(result(19, 1)),
            latency: vec![(0.2, 8.0, Ok(result(8, 6_000_000)))],
            backlog: Ok(Backlog {
                rss_queued_kib: 100 * 1024,
                term_ready: Duration::from_millis(200),
                kill_ready: Duration::from_millis(300),
                drained: 50,
                drain: Duration::from_secs(1),
                ..Backlog::default()
            }),
            backlog_events: 50,
            filtered_triggers: 10_000,
            connections: 32,
            warmup_s: 2.0,
        };
        let met: Vec<Option<bool>> = targets(&suite).iter().map(|t| t.met).collect();
        assert_eq!(
            met,
            [
                Some(true),  // ingress 0.70
                Some(true),  // 1 Trigger 0.40
                Some(false), // 31 µs
                Some(false), // p99 6 ms
                Some(false), // 19 / 40 < 0.5
                Some(true),  // 100 MiB
                Some(true),  // 0.3 s
                Some(true),  // 50/s ≥ 40/s
                Some(false), // 40 MiB idle
                Some(true),  // 30 ms
            ]
            .map(Some)
            .map(Option::flatten)
        );
        assert_eq!(suite.lost(), 0);
        let table = suite_report::table(&suite);
        assert!(table.contains("FAILED: boom"), "{table}");
        assert!(suite_report::json(&suite)["targets"].as_array().is_some());
    }
}
