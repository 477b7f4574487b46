//! `netmon-cli`: the operator's command line for the netmon agent. Parses
//! flags (clap exits 2 on a usage error), runs one subcommand and turns its
//! error into one line on stderr and exit status 1.

mod cli;
mod client;
mod commands;
mod doctor;
mod model;
mod output;
mod top;

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches};

use cli::{Cli, Command, ConfigCommand, DebugCommand, FlowsCommand, StatsCommand, SupportCommand};
use client::{AgentAddress, AgentClient};
use commands::flow_filter::FlowFilters;
use output::Style;

fn main() -> ExitCode {
    // Parsed through ArgMatches rather than `Cli::parse()`: the flow
    // filters need to know where each `--not` stood, which only the
    // matches' indices tell.
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let filters = match flow_filters(&matches) {
        Ok(filters) => filters,
        Err(e) => return commands::usage_error(e),
    };
    // A malformed --agent is a usage error; the doctor checks this machine
    // and never talks to the agent, so it does not care.
    let agent = match (&cli.command, AgentAddress::parse(&cli.agent)) {
        (_, Ok(address)) => Some(AgentClient::new(address)),
        (Command::Doctor(_), Err(_)) => None,
        (_, Err(e)) => return commands::usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("netmon-cli: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, agent, filters)) {
        Ok(code) => code,
        Err(e) => {
            // Every error of this crate already names its cause in its message;
            // `{e:#}` would print each cause twice.
            eprintln!("netmon-cli: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The filters of `flows dump`, `flows observe` and `top`, in
/// command-line order; empty for every other subcommand.
fn flow_filters(matches: &ArgMatches) -> Result<FlowFilters, commands::flow_filter::FilterError> {
    let filtered = match matches.subcommand() {
        Some(("flows", flows)) => flows.subcommand().map(|(_, m)| m),
        Some(("top", top)) => Some(top),
        _ => None,
    };
    match filtered {
        Some(filter_matches) => FlowFilters::from_matches(filter_matches),
        None => Ok(FlowFilters::default()),
    }
}

async fn run(
    cli: Cli,
    agent: Option<AgentClient>,
    filters: FlowFilters,
) -> anyhow::Result<ExitCode> {
    let style = Style::for_stdout(cli.color);
    let agent = || {
        agent
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--agent: no usable address"))
    };
    Ok(match cli.command {
        Command::Doctor(args) => doctor::run(&args, &style)?,
        Command::Status(args) => commands::status::run(&agent()?, &args, &style).await?,
        Command::Flows(FlowsCommand::Dump(args)) => {
            commands::flows::dump(&agent()?, &args, &filters, &style).await?
        }
        Command::Flows(FlowsCommand::Observe(args)) => {
            commands::flows::observe(&agent()?, &args, &filters, &style).await?
        }
        Command::Top(args) => top::run(&agent()?, &args, &filters).await?,
        Command::Stats(StatsCommand::Flows(args)) => {
            commands::stats::flows(&agent()?, &args, &style).await?
        }
        Command::Support(SupportCommand::Bundle(args)) => {
            commands::bundle::run(&agent()?, &args).await?
        }
        Command::Config(ConfigCommand::Get(args)) => {
            commands::config::get(&agent()?, &args).await?
        }
        Command::Config(ConfigCommand::Set(args)) => {
            commands::config::set(&agent()?, &args, &style).await?
        }
        Command::Debug(DebugCommand::Trace(args)) => {
            commands::debug::trace(&agent()?, &args).await?
        }
    })
}
