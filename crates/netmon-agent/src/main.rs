//! `netmon`: the node agent binary. Parses flags and config (exit 2 on any
//! problem, one line each), sets up logging and the runtime, and runs.

use std::process::ExitCode;

use clap::Parser;
use netmon_agent::{
    config::{self, AgentArgs, Config},
    runtime,
};

fn main() -> ExitCode {
    let args = AgentArgs::parse();
    if args.print_default_config {
        print!("{}", Config::default().to_yaml());
        return ExitCode::SUCCESS;
    }
    let config = match config::load(&args, std::env::vars()) {
        Ok(config) => config,
        Err(problems) => {
            eprint!("{problems}");
            if !problems.to_string().ends_with('\n') {
                eprintln!();
            }
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        print!("{}", config.to_yaml());
        return ExitCode::SUCCESS;
    }
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
