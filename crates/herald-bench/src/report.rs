//! The report: a table for people, JSON for scripts. Both carry the machine and the settings,
//! because a throughput figure without them cannot be compared with anything.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::run::RunResult;
use crate::stats::{Latency, human};

pub struct Context {
    pub date: String,
    pub machine: Value,
    pub settings: Value,
}

/// herald ÷ direct for throughput and median latency; `None` unless both ran.
fn ratios(runs: &[RunResult]) -> Option<Value> {
    let direct = runs.iter().find(|r| r.name == "direct")?;
    let herald = runs.iter().find(|r| r.name == "herald")?;
    let div = |a: f64, b: f64| if b > 0.0 { Some(round3(a / b)) } else { None };
    Some(json!({
        "accepted_per_s": div(herald.accepted_per_s(), direct.accepted_per_s()),
        "delivered_per_s": div(herald.delivered_per_s(), direct.delivered_per_s()),
        "ingress_p50": div(herald.ingress.p50 as f64, direct.ingress.p50 as f64),
        "e2e_p50": div(herald.e2e.p50 as f64, direct.e2e.p50 as f64),
    }))
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn json(ctx: &Context, runs: &[RunResult]) -> Value {
    let modes: serde_json::Map<String, Value> =
        runs.iter().map(|r| (r.name.clone(), run_json(r))).collect();
    json!({
        "date": ctx.date,
        "machine": ctx.machine,
        "settings": ctx.settings,
        "modes": modes,
        "ratio_herald_over_direct": ratios(runs),
        "lost_events": runs.iter().map(|r| r.missing).sum::<u64>(),
    })
}

pub fn run_json(r: &RunResult) -> Value {
    json!({
        "window_s": r.window_s,
        "accepted": r.accepted,
        "accepted_per_s": r.accepted_per_s().round(),
        "errors": r.errors,
        "ingress_latency": r.ingress.to_json(),
        "delivered_in_window": r.delivered_in_window,
        "delivered_per_s": r.delivered_per_s().round(),
        "e2e_latency": r.e2e.to_json(),
        "accepted_total": r.accepted_total,
        "routes": r.routes,
        "deliveries_expected": r.expected,
        "delivered_of_accepted": r.delivered_of_accepted,
        "missing": r.missing,
        "missing_sample_ids": r.missing_sample,
        "duplicates": r.duplicates,
        "delivered_without_2xx": r.unacknowledged_delivered,
        "foreign_requests": r.foreign,
        "drain_ms": r.drain.as_millis() as u64,
        "setup_ms": r.setup.map(|t| json!({
            "created": t.created.as_millis() as u64,
            "ready": t.ready.as_millis() as u64,
        })),
        "herald": r.herald.as_ref().map(|h| json!({
            "cpu_us_per_event": round1(h.cpu_us_per_event),
            "cores_busy": round3(h.cores),
            "rss_kib": h.rss_kib,
            "fsync": h.fsync,
            "fsyncs_per_s": h.fsyncs_per_s.map(f64::round),
            "events_per_fsync": h.fsyncs_per_s.filter(|f| *f > 0.0)
                .map(|f| round1(r.accepted_per_s() / f)),
        })),
        "bench_process_cpu_us_per_event": round1(r.bench_cpu_us_per_event),
        "machine_busy_pct": round1(r.machine_busy_pct),
        "other_processes_cores": round3(r.other_cores),
        "steal_pct": round1(r.steal_pct),
    })
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn table(ctx: &Context, runs: &[RunResult]) -> String {
    let mut out = String::new();
    let m = &ctx.machine;
    let s = &ctx.settings;
    let _ = writeln!(out, "herald-bench {}", ctx.date);
    let _ = writeln!(
        out,
        "machine: {} cores ({}), {} MiB, kernel {}; data dir on {} ({}); load average before: {}",
        m["cores"],
        text(&m["cpu_model"]),
        m["memory_mib"],
        text(&m["kernel"]),
        text(&m["data_dir_fs"]),
        text(&m["data_dir_device"]),
        text(&m["loadavg_before"]),
    );
    let _ = writeln!(
        out,
        "load: {}, {} connections, {} B events, {} s warm-up + {} s measured; Herald fsync {}",
        text(&s["loop"]),
        s["connections"],
        s["size_bytes"],
        s["warmup_s"],
        s["duration_s"],
        if s["fsync"] == Value::Bool(true) {
            "ON"
        } else {
            "OFF (--unsafe-no-fsync: NOT durable)"
        },
    );
    let _ = writeln!(
        out,
        "note: load generator, sink and Herald share these {} cores; compare with the direct row, \
         measured in the same run.\n",
        m["cores"]
    );

    let mut t = Rows {
        runs,
        rows: Vec::new(),
    };
    t.add("accepted events/s (2xx)", |r| {
        format!("{:.0}", r.accepted_per_s())
    });
    t.add("errors (measured window)", errors);
    t.latency("ingress latency", |r| r.ingress);
    t.add("delivered events/s at sink", |r| {
        format!("{:.0}", r.delivered_per_s())
    });
    t.latency("end-to-end latency", |r| r.e2e);
    t.add("delivered/accepted (all)", |r| {
        let pct = 100.0 * r.delivered_of_accepted as f64 / r.expected.max(1) as f64;
        format!("{pct:.3}% ({}/{})", r.delivered_of_accepted, r.expected)
    });
    t.add("duplicates", |r| r.duplicates.to_string());
    t.add("drain after load", |r| {
        format!("{:.1} s", r.drain.as_secs_f64())
    });
    t.add("Herald CPU per event", |r| match &r.herald {
        Some(h) => format!("{:.1} µs ({:.2} cores)", h.cpu_us_per_event, h.cores),
        None => "-".into(),
    });
    t.add("log fsyncs/s (events/fsync)", |r| {
        match r.herald.as_ref().and_then(|h| h.fsyncs_per_s) {
            Some(f) if f > 0.0 => format!("{f:.0} ({:.1})", r.accepted_per_s() / f),
            Some(f) => format!("{f:.0}"),
            None => "-".into(),
        }
    });
    t.add("Herald RSS at end", |r| match &r.herald {
        Some(h) => format!("{:.1} MiB", h.rss_kib as f64 / 1024.0),
        None => "-".into(),
    });
    t.add("bench process CPU per event", |r| {
        format!("{:.1} µs", r.bench_cpu_us_per_event)
    });
    t.add("machine busy / steal", |r| {
        format!("{:.0}% / {:.1}%", r.machine_busy_pct, r.steal_pct)
    });
    t.add("cores used by other processes", |r| {
        format!("{:.2}", r.other_cores)
    });
    let rows = t.rows;

    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let col = 26;
    let _ = write!(out, "{:width$}", "");
    for r in runs {
        let _ = write!(out, "{:>col$}", r.name);
    }
    let _ = writeln!(out);
    for (label, cells) in rows {
        let _ = write!(out, "{label:width$}");
        for c in cells {
            let _ = write!(out, "{c:>col$}");
        }
        let _ = writeln!(out);
    }
    if let Some(ratio) = ratios(runs) {
        let f = |k: &str| ratio[k].as_f64().map_or("-".into(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "\nherald/direct: accepted/s {}, delivered/s {}, ingress p50 {}, end-to-end p50 {}",
            f("accepted_per_s"),
            f("delivered_per_s"),
            f("ingress_p50"),
            f("e2e_p50"),
        );
    }
    for r in runs.iter().filter(|r| r.missing > 0) {
        let _ = writeln!(
            out,
            "\n!!! LOST EVENTS ({}): {} of {} accepted events never reached the sink (first ids: \
             {:?}). A 202 promised delivery: this is a bug.",
            r.name, r.missing, r.accepted_total, r.missing_sample
        );
    }
    for r in runs.iter().filter(|r| r.foreign > 0) {
        let _ = writeln!(
            out,
            "\nwarning ({}): the sink got {} requests without a parsable ce-id/ce-benchsent",
            r.name, r.foreign
        );
    }
    out
}

/// Table rows: a label and one cell per run.
struct Rows<'a> {
    runs: &'a [RunResult],
    rows: Vec<(String, Vec<String>)>,
}

impl Rows<'_> {
    fn add(&mut self, label: &str, cell: impl Fn(&RunResult) -> String) {
        let cells = self.runs.iter().map(cell).collect();
        self.rows.push((label.to_string(), cells));
    }

    fn latency(&mut self, name: &str, get: fn(&RunResult) -> Latency) {
        self.add(&format!("{name} p50"), |r| human(get(r).p50));
        self.add("  p90", |r| human(get(r).p90));
        self.add("  p99", |r| human(get(r).p99));
        self.add("  max", |r| human(get(r).max));
    }
}

fn errors(r: &RunResult) -> String {
    if r.errors.is_empty() {
        return "none".into();
    }
    r.errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
