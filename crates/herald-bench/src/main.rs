//! `herald-bench`: Herald's end-to-end benchmark.
//!
//! Sends CloudEvents through a Herald Broker to a local sink and, in the same run, straight to
//! that sink, so every Herald figure comes with a baseline taken on the same (shared, 2-core)
//! machine under the same conditions. See BENCHMARKS.md for the method and the figures.

mod backlog;
mod cli;
mod clock;
mod herald;
mod load;
mod pin;
mod procfs;
mod report;
mod run;
mod sink;
mod startup;
mod stats;
mod suite;
mod suite_report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use serde_json::json;

use crate::cli::{Args, Mode};
use crate::herald::{Launch, Triggers};
use crate::run::{Settings, Target};

#[tokio::main]
async fn main() -> Result<()> {
    // reqwest is built with rustls but no crypto provider; plain-HTTP runs never use TLS, but the
    // client builder still wants a provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    args.validate()?;

    let data_parent = args.data_parent.clone().unwrap_or_else(std::env::temp_dir);
    let pin = if args.pin { pin::plan() } else { None };
    if let Some(p) = &pin {
        pin::pin_self(&p.bench)?;
    }
    let launch = Launch {
        binary: find_herald(&args.herald)?,
        no_fsync: args.no_fsync,
        cpus: pin.as_ref().map(|p| p.herald.clone()),
    };
    if args.suite {
        return suite::main(&args, launch, data_parent, pin).await;
    }
    let mut targets = Vec::new();
    if matches!(args.mode, Mode::Direct | Mode::Both) {
        targets.push(Target::Direct);
    }
    if matches!(args.mode, Mode::Herald | Mode::Both) {
        targets.push(Target::Herald {
            launch: launch.clone(),
            data_parent: data_parent.clone(),
            triggers: Triggers::Fanout(1),
        });
    }

    let settings = Settings {
        load: load::LoadConfig {
            target: String::new(),
            connections: args.connections,
            size: args.size,
            warmup: args.warmup,
            duration: args.duration,
            rate: args.rate,
            count: None,
        },
        drain_timeout: args.drain_timeout,
        clock: clock::Clock::new(),
        ids: Arc::new(load::Ids::new()),
        client: load::client(args.connections)?,
    };
    let ctx = report::Context {
        date: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        machine: procfs::machine(&data_parent),
        settings: json!({
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "loop": match args.rate {
                Some(r) => format!("open loop at {r} events/s"),
                None => "closed loop".to_string(),
            },
            "connections": args.connections,
            "size_bytes": args.size,
            "warmup_s": args.warmup.as_secs_f64(),
            "duration_s": args.duration.as_secs_f64(),
            "rate": args.rate,
            "fsync": !args.no_fsync,
        }),
    };

    let mut results = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        if i > 0 {
            // Let the previous run's sockets and threads wind down before the next one.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!("herald-bench: running {} ...", target.name());
        results.push(run::run(target, &settings).await?);
    }

    if args.json {
        println!("{:#}", report::json(&ctx, &results));
    } else {
        print!("{}", report::table(&ctx, &results));
    }
    let lost: u64 = results.iter().map(|r| r.missing).sum();
    if lost > 0 {
        bail!("{lost} accepted events were lost");
    }
    Ok(())
}

/// The herald binary: `--herald` if it exists, else the one built next to this binary (both come
/// from the same `cargo build --release`, wherever `CARGO_TARGET_DIR` points).
fn find_herald(given: &std::path::Path) -> Result<PathBuf> {
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("herald")));
    match sibling {
        Some(p) if p.is_file() => Ok(p),
        _ => bail!(
            "no herald binary at {} nor next to herald-bench; build it with \
             `cargo build --release -p herald` or pass --herald PATH",
            given.display()
        ),
    }
}
