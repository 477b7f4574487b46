//! `netmon`: the node agent binary. Parses flags and config (exit 2 on any
//! problem, one line each), sets up logging and the async runtime, and runs
//! until SIGTERM.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use netmon_agent::{
    config::{self, AgentArgs, ConfigSource, Startup},
    control::ControlInputs,
    runtime,
};

fn main() -> ExitCode {
    let matches = AgentArgs::command().get_matches();
    let args = match AgentArgs::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let flags = config::given_flags(&matches);
    let env = config::process_env();
    let config = match config::startup(&args, env.clone()) {
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
    let log = netmon_agent::telemetry::logging::init(&config.log);
    // Kept to reload the file exactly as it was loaded now.
    let control = ControlInputs {
        source: ConfigSource::new(args, env),
        flags,
        log,
    };

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
    match rt.block_on(runtime::run(config, control)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "netmon stopped");
            eprintln!("netmon: {e}");
            ExitCode::FAILURE
        }
    }
}
