//! `herald`: Knative Eventing in one binary. A thin main: parse the command line, run it.

mod cli;
mod client;
mod commands;
mod eval;
mod event_registry;
mod events;
mod kubeconfig;
mod logs;
mod manifest;
mod plan;
mod run;
mod serve;
mod source_plan;
mod store_changes;
mod tls;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a profile of the 1-Trigger benchmark put a quarter of
/// Herald's CPU in glibc (malloc, free, arena locks) for the small, short-lived buffers every
/// event allocates across the runtime's threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // One process-wide TLS provider (ring) for the API listener and the HTTP client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
