//! `netmon`: the node agent binary. Parses flags and config (exit 2 on any
//! problem, one line each), sets up logging and the async runtime, and runs
//! until SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use netmon_agent::{
    config::{self, AgentArgs, Startup},
    runtime,
};

fn main() -> ExitCode {
    let args = AgentArgs::parse();
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
    netmon_agent::telemetry::logging::init(&config.log);

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.performance.workers)
        .thread_name("netmon")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netmon: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(runtime::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "netmon stopped");
            eprintln!("netmon: {e}");
            ExitCode::FAILURE
        }
    }
}
