//! The suite's report: one table per scenario with the ratio to the HTTP ceiling measured in the
//! same run, then the targets; or the same as JSON.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::backlog::Backlog;
use crate::report::{round1, round3, run_json};
use crate::run::RunResult;
use crate::stats::{Latency, human};
use crate::suite::{IDLE_LIMIT_CORES, Suite, mib, nanos, targets};

pub fn table(s: &Suite) -> String {
    let mut out = String::new();
    let m = &s.machine;
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let _ = writeln!(out, "herald-bench suite {} ({})", s.date, s.args_line);
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
    let idle_note = if s.idle.busy_cores > IDLE_LIMIT_CORES {
        "NOT IDLE: figures are contended"
    } else {
        "idle"
    };
    let _ = writeln!(
        out,
        "idle check before the start: {:.2} cores busy, steal {:.1} % ({idle_note})",
        s.idle.busy_cores, s.idle.steal_pct
    );
    let _ = writeln!(
        out,
        "pinning: {}; Herald fsync {}",
        match &s.pinning {
            Some(p) => format!(
                "Herald on CPUs {}, load generator and sink on {}",
                p.herald, p.bench
            ),
            None => "none (everything shares all cores)".into(),
        },
        if s.fsync {
            "ON (durable before 202)"
        } else {
            "OFF (NOT durable)"
        },
    );
    let c = &s.ceiling;
    let _ = writeln!(
        out,
        "load: {} connections, {} s warm-up + {} s measured per scenario",
        c_connections(s),
        s.warmup_s,
        c.window_s
    );

    let ceiling = c.delivered_per_s();
    let _ = writeln!(
        out,
        "\n## Throughput, closed loop (ratio = delivered ÷ HTTP ceiling)\n"
    );
    let _ = writeln!(
        out,
        "| scenario | accepted/s | delivered/s | × ceiling | publish p50 / p99 | e2e p50 / p99 | Herald CPU/event | fsyncs/s | RSS | lost / dup | other cores |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|---:|---:|---:|---|---:|");
    let rows: [(String, Result<&RunResult, &String>); 5] = [
        ("HTTP ceiling (direct)".into(), Ok(c)),
        ("ingress only (0 Triggers)".into(), s.ingress.as_ref()),
        ("1 Trigger".into(), Ok(&s.one)),
        (
            format!(
                "{} Triggers, fan-out (deliveries)",
                s.fanout.as_ref().map_or(0, |r| r.routes)
            ),
            s.fanout.as_ref(),
        ),
        (filtered_label(s), s.filtered.as_ref()),
    ];
    for (label, r) in rows {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(out, "| {label} | FAILED: {e} |");
                continue;
            }
        };
        // Ingress only delivers nothing: its ratio is of accepted events.
        let rate = if r.routes == 0 {
            r.accepted_per_s()
        } else {
            r.delivered_per_s()
        };
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.0} | {} | {} / {} | {} | {} | {} | {} | {} / {} | {:.2} |",
            r.accepted_per_s(),
            r.delivered_per_s(),
            ratio(rate, ceiling),
            human(r.ingress.p50),
            human(r.ingress.p99),
            if r.routes == 0 {
                "-".into()
            } else {
                format!("{} / {}", human(r.e2e.p50), human(r.e2e.p99))
            },
            r.herald.as_ref().map_or("-".into(), |h| format!(
                "{:.1} µs ({:.2} cores)",
                h.cpu_us_per_event, h.cores
            )),
            r.herald
                .as_ref()
                .and_then(|h| h.fsyncs_per_s)
                .map_or("-".into(), |f| if f > 0.0 {
                    format!("{f:.0} ({:.1} ev)", r.accepted_per_s() / f)
                } else {
                    format!("{f:.0}")
                }),
            r.herald.as_ref().map_or("-".into(), |h| mib(h.rss_kib)),
            r.missing,
            r.duplicates,
            r.other_cores,
        );
    }
    if let Ok(f) = &s.filtered {
        let _ = writeln!(
            out,
            "\n{} ÷ 1 Trigger (delivered/s): {}",
            filtered_label(s),
            ratio(f.delivered_per_s(), s.one.delivered_per_s())
        );
        if let Some(t) = f.setup {
            let _ = writeln!(
                out,
                "setup of {} Triggers: created in {:.1} s, all Ready after {:.1} s",
                filtered_count(s),
                t.created.as_secs_f64(),
                t.ready.as_secs_f64()
            );
        }
    }
    if let Ok(f) = &s.fanout {
        let _ = writeln!(
            out,
            "fan-out: {:.0} events/s in, {:.0} deliveries/s out ({} per event)",
            f.accepted_per_s(),
            f.delivered_per_s(),
            f.routes
        );
    }

    let _ = writeln!(
        out,
        "\n## Latency at a constant pace (open loop, 1 Trigger; late sends are charged from their schedule)\n"
    );
    let _ = writeln!(
        out,
        "| pace | accepted/s | publish p50 / p99 / p99.9 / max | e2e p50 / p99 / p99.9 / max | Herald CPU/event | lost |"
    );
    let _ = writeln!(out, "|---|---:|---|---|---:|---:|");
    for (fraction, pace, r) in &s.latency {
        let label = format!("{:.0} % of max ({pace:.0}/s)", fraction * 100.0);
        match r {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {label} | {:.0} | {} | {} | {} | {} |",
                    r.accepted_per_s(),
                    lat4(r.ingress),
                    lat4(r.e2e),
                    r.herald
                        .as_ref()
                        .map_or("-".into(), |h| format!("{:.1} µs", h.cpu_us_per_event)),
                    r.missing
                );
            }
            Err(e) => {
                let _ = writeln!(out, "| {label} | FAILED: {e} |");
            }
        }
    }

    let _ = writeln!(
        out,
        "\n## Backlog: {} events behind a stopped (paused) subscriber\n",
        s.backlog_events
    );
    match &s.backlog {
        Ok(b) => backlog_table(&mut out, b, s.one.delivered_per_s()),
        Err(e) => {
            let _ = writeln!(out, "FAILED: {e}");
        }
    }

    let _ = writeln!(out, "\n## Cold start and idle\n");
    match &s.startup {
        Ok(st) => {
            let all: Vec<String> = st.ready.iter().map(|d| human(nanos(*d))).collect();
            let _ = writeln!(
                out,
                "herald serve on an empty data dir, spawn → /readyz and ingress answer: median {} ({}); idle RSS after 1 s: {}",
                human(nanos(st.median())),
                all.join(", "),
                mib(st.idle_rss_kib)
            );
        }
        Err(e) => {
            let _ = writeln!(out, "FAILED: {e}");
        }
    }

    let _ = writeln!(out, "\n## Targets (issue 9)\n");
    let _ = writeln!(out, "| target | measured | met |");
    let _ = writeln!(out, "|---|---|---|");
    for t in targets(s) {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", t.target, t.measured);
    }
    let lost = s.lost();
    if lost > 0 {
        let _ = writeln!(
            out,
            "\n!!! LOST EVENTS: {lost} accepted events (or deliveries) never reached the sink. A 202 \
             promised delivery: this is a bug."
        );
    }
    out
}

fn backlog_table(out: &mut String, b: &Backlog, one: f64) {
    let rows = [
        (
            "fill (closed loop)",
            format!(
                "{} accepted in {:.1} s = {:.0}/s ({} errors), {:.1} µs Herald CPU/event",
                b.queued,
                b.fill.as_secs_f64(),
                b.fill_per_s(),
                b.fill_errors,
                b.fill_cpu_us_per_event
            ),
        ),
        (
            "queued: RSS / data dir on disk",
            format!(
                "{} / {:.1} MiB",
                mib(b.rss_queued_kib),
                b.disk_bytes as f64 / 1048576.0
            ),
        ),
        (
            "restart after SIGTERM: exit / spawn → ready",
            format!(
                "{} / {}",
                human(nanos(b.term_stop)),
                human(nanos(b.term_ready))
            ),
        ),
        ("RSS 1 s after that restart", mib(b.rss_restarted_kib)),
        (
            "restart after SIGKILL: spawn → ready",
            human(nanos(b.kill_ready)),
        ),
        (
            "drain once the subscriber is back",
            format!(
                "{} events in {:.1} s = {:.0}/s ({} of the 1-Trigger rate), {:.1} µs Herald CPU/event",
                b.drained,
                b.drain.as_secs_f64(),
                b.drain_per_s(),
                ratio(b.drain_per_s(), one),
                b.drain_cpu_us_per_event
            ),
        ),
        ("RSS after the drain", mib(b.rss_end_kib)),
        (
            "lost / duplicates",
            format!(
                "{} / {}{}",
                b.missing,
                b.duplicates,
                if b.missing > 0 {
                    format!(" (first ids {:?})", b.missing_sample)
                } else {
                    String::new()
                }
            ),
        ),
    ];
    let _ = writeln!(out, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
}

fn lat4(l: Latency) -> String {
    format!(
        "{} / {} / {} / {}",
        human(l.p50),
        human(l.p99),
        human(l.p999),
        human(l.max)
    )
}

fn ratio(x: f64, of: f64) -> String {
    if of > 0.0 {
        format!("{:.2}", x / of)
    } else {
        "-".into()
    }
}

fn filtered_count(s: &Suite) -> u32 {
    s.filtered_triggers
}

fn filtered_label(s: &Suite) -> String {
    format!("{} Triggers, 1 matching", filtered_count(s))
}

fn c_connections(s: &Suite) -> u32 {
    s.connections
}

pub fn json(s: &Suite) -> Value {
    let run = |r: Result<&RunResult, &String>| match r {
        Ok(r) => run_json(r),
        Err(e) => json!({"error": e}),
    };
    let ceiling = s.ceiling.delivered_per_s();
    let r3 = |x: f64, of: f64| (of > 0.0).then(|| round3(x / of));
    json!({
        "date": s.date,
        "args": s.args_line,
        "machine": s.machine,
        "idle_check": {"busy_cores": round3(s.idle.busy_cores), "steal_pct": round1(s.idle.steal_pct)},
        "pinning": s.pinning.as_ref().map(|p| json!({"herald": p.herald, "bench": p.bench})),
        "fsync": s.fsync,
        "throughput": {
            "ceiling": run(Ok(&s.ceiling)),
            "ingress_only": run(s.ingress.as_ref()),
            "one_trigger": run(Ok(&s.one)),
            "fanout": run(s.fanout.as_ref()),
            "filtered": run(s.filtered.as_ref()),
        },
        "ratios": {
            "ingress_over_ceiling": s.ingress.as_ref().ok().and_then(|r| r3(r.accepted_per_s(), ceiling)),
            "one_trigger_over_ceiling": r3(s.one.delivered_per_s(), ceiling),
            "fanout_deliveries_over_ceiling": s.fanout.as_ref().ok().and_then(|r| r3(r.delivered_per_s(), ceiling)),
            "filtered_over_ceiling": s.filtered.as_ref().ok().and_then(|r| r3(r.delivered_per_s(), ceiling)),
            "filtered_over_one_trigger": s.filtered.as_ref().ok().and_then(|r| r3(r.delivered_per_s(), s.one.delivered_per_s())),
        },
        "latency": s.latency.iter().map(|(f, pace, r)| json!({
            "fraction_of_max": f, "pace_per_s": pace.round(), "run": run(r.as_ref()),
        })).collect::<Vec<_>>(),
        "backlog": match &s.backlog {
            Ok(b) => json!({
                "events": s.backlog_events,
                "queued": b.queued,
                "fill_s": b.fill.as_secs_f64(),
                "fill_per_s": b.fill_per_s().round(),
                "fill_errors": b.fill_errors,
                "fill_cpu_us_per_event": round1(b.fill_cpu_us_per_event),
                "rss_queued_kib": b.rss_queued_kib,
                "disk_bytes": b.disk_bytes,
                "sigterm_stop_ms": b.term_stop.as_secs_f64() * 1e3,
                "sigterm_ready_ms": b.term_ready.as_secs_f64() * 1e3,
                "rss_restarted_kib": b.rss_restarted_kib,
                "sigkill_ready_ms": b.kill_ready.as_secs_f64() * 1e3,
                "drain_s": b.drain.as_secs_f64(),
                "drained": b.drained,
                "drain_per_s": b.drain_per_s().round(),
                "drain_cpu_us_per_event": round1(b.drain_cpu_us_per_event),
                "rss_end_kib": b.rss_end_kib,
                "missing": b.missing,
                "duplicates": b.duplicates,
            }),
            Err(e) => json!({"error": e}),
        },
        "startup": match &s.startup {
            Ok(st) => json!({
                "ready_ms": st.ready.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>(),
                "median_ms": st.median().as_secs_f64() * 1e3,
                "idle_rss_kib": st.idle_rss_kib,
            }),
            Err(e) => json!({"error": e}),
        },
        "targets": targets(s).iter().map(|t| json!({
            "target": t.target, "measured": t.measured, "met": t.met,
        })).collect::<Vec<_>>(),
        "lost_events": s.lost(),
    })
}
