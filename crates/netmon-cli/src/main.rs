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

use clap::Parser;

use cli::{Cli, Command, ConfigCommand, DebugCommand, FlowsCommand, StatsCommand, SupportCommand};
use client::{AgentAddress, AgentClient};
use output::Style;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netmon-cli: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = Style::for_stdout(cli.color);
    // Parsed only by the subcommands that talk to the agent: the doctor
    // checks this machine and needs none.
    let agent = || AgentAddress::parse(&cli.agent).map(AgentClient::new);
    Ok(match cli.command {
        Command::Doctor(args) => doctor::run(&args, &style)?,
        Command::Status(args) => commands::status::run(&agent()?, &args, &style).await?,
        Command::Flows(FlowsCommand::Dump(args)) => {
            commands::flows::dump(&agent()?, &args, &style).await?
        }
        Command::Flows(FlowsCommand::Observe(args)) => {
            commands::flows::observe(&agent()?, &args, &style).await?
        }
        Command::Top(args) => top::run(&agent()?, &args).await?,
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
