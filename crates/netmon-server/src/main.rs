//! `netmon-server`: parses flags and config (exit 2 on any problem, one
//! line each), sets up logging and the async runtime, and runs until
//! SIGTERM or SIGINT.

use std::process::ExitCode;

use clap::Parser;
use netmon_server::config::{self, ServerArgs, Startup};

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    let config = match config::startup(&args, config::process_env()) {
        Startup::Run(config) => *config,
        Startup::Print(yaml) => {
            print!("{yaml}");
            return ExitCode::SUCCESS;
        }
        Startup::Invalid(problems) => {
            eprintln!("{problems}");
            return ExitCode::from(config::EXIT_INVALID_CONFIG);
        }
    };
    netmon_server::logging::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("netmon-server")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("netmon-server: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(netmon_server::run::run(config, stop_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "netmon-server stopped");
            eprintln!("netmon-server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (a terminal).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
