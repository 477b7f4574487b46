//! `netmon-cli top`: a live full-screen view of the busiest flows or peers.
//!
//! The agent is polled every `--interval` by a task of its own; the main
//! loop redraws on each answer and on each key or resize, so keys take
//! effect at once. An agent that cannot be reached at start is an error; a
//! later failed poll is shown in the header while polling goes on.

mod filter;
mod input;
mod peers;
mod poll;
mod query;
mod rates;
mod sort;
mod state;
mod terminal;
mod text;
mod view;

use std::io::IsTerminal;
use std::process::ExitCode;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use thiserror::Error;
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::TopArgs;
use crate::client::{AgentClient, ClientError};
use crate::commands::flow_filter::FlowFilters;
use crate::commands::usage_error;
use input::{handle_key, KeyOutcome};
use query::QueryError;
use state::TopState;
use terminal::FullScreen;

#[derive(Debug, Error)]
pub enum TopError {
    #[error("--interval: must be more than 0")]
    ZeroInterval,
    #[error("top needs a terminal: stdout is not one (use `netmon-cli flows dump` in scripts)")]
    NotATerminal,
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Agent(#[from] ClientError),
    #[error("the terminal: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("listening for {signal}: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent poller stopped unexpectedly")]
    PollerStopped,
}

pub async fn run(
    client: &AgentClient,
    args: &TopArgs,
    filters: &FlowFilters,
) -> Result<ExitCode, TopError> {
    let (path, filters_shown) = match request(args, filters) {
        Ok(request) => request,
        Err(usage) => return Ok(usage_error(usage)),
    };
    if !std::io::stdout().is_terminal() {
        return Err(TopError::NotATerminal);
    }
    // Asked before the screen is taken over, so that an unreachable agent
    // or refused filters are a plain error message.
    let first = poll::poll_once(client, &path).await?;
    let mut state = TopState::new(
        client.address().to_string(),
        args.interval,
        filters_shown,
        args.by,
        args.sort,
    );
    state.record_snapshot(first);

    // Raw mode turns Ctrl-C into a key, but a signal from elsewhere would
    // still end the process with the terminal left raw: handle them.
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut hangup = listen(SignalKind::hangup(), "SIGHUP")?;
    let mut screen = FullScreen::enter().map_err(TopError::Terminal)?;
    let mut polls = poll::spawn_poller(client.clone(), path, args.interval);
    let mut events = EventStream::new();
    loop {
        screen
            .draw(|frame| view::render(frame, &state))
            .map_err(TopError::Terminal)?;
        tokio::select! {
            outcome = polls.recv() => match outcome {
                Some(Ok(snapshot)) => state.record_snapshot(snapshot),
                Some(Err(error)) => state.record_poll_error(error.to_string()),
                None => return Err(TopError::PollerStopped),
            },
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    if handle_key(&mut state, key) == KeyOutcome::Quit {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(TopError::Terminal(error)),
                // The terminal went away: nothing left to show.
                None => break,
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => break,
        }
    }
    screen.leave().map_err(TopError::Terminal)?;
    Ok(ExitCode::SUCCESS)
}

/// The flows request and how the header names its filters; an error here
/// is a usage error (exit status 2).
fn request(args: &TopArgs, filters: &FlowFilters) -> Result<(String, String), TopError> {
    if args.interval.is_zero() {
        return Err(TopError::ZeroInterval);
    }
    Ok((query::flows_path(filters)?, query::describe(filters)))
}

fn listen(kind: SignalKind, name: &'static str) -> Result<tokio::signal::unix::Signal, TopError> {
    signal(kind).map_err(|source| TopError::Signal {
        signal: name,
        source,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn top_args(args: &[&str]) -> TopArgs {
        let argv = ["netmon-cli", "top"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("the flags parse").command {
            Command::Top(args) => args,
            other => panic!("not top: {other:?}"),
        }
    }

    fn top_matches(args: &[&str]) -> clap::ArgMatches {
        let argv = ["netmon-cli", "top"].iter().chain(args);
        let matches = <Cli as clap::CommandFactory>::command().get_matches_from(argv);
        matches.subcommand_matches("top").expect("top").clone()
    }

    #[test]
    fn the_request_carries_the_filters_and_the_header_names_them() {
        let args = ["--port", "5101", "--protocol", "tcp"];
        let filters = FlowFilters::from_matches(&top_matches(&args)).unwrap();
        let (path, shown) = request(&top_args(&args), &filters).unwrap();
        assert_eq!(path, "/api/v1/flows?port=5101&protocol=tcp");
        assert_eq!(shown, "port=5101 protocol=tcp");
    }

    #[test]
    fn a_zero_interval_is_refused_by_name() {
        let error = request(&top_args(&["--interval", "0s"]), &FlowFilters::default()).unwrap_err();
        assert_eq!(error.to_string(), "--interval: must be more than 0");
    }
}
