//! `flows dump` and `flows observe`: the agent's flows through the
//! filters, in the chosen format. `observe --follow` then prints every flow
//! event as the agent streams it, one flushed line each.

use std::io;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use serde_json::value::RawValue;
use thiserror::Error;

use super::flow_filter::FlowFilters;
use super::usage_error;
use crate::cli::{FlowFormat, FlowWindowArgs, FlowsDumpArgs, FlowsObserveArgs};
use crate::client::{with_query, AgentClient, ClientError, LineStream};
use crate::model::{Flow, StreamLine};
use crate::output::table::{self, Cell, STREAM_COLUMNS, STREAM_WIDTHS};
use crate::output::{compact, csv, sink, Stdout, Style};

pub const PATH: &str = "/api/v1/flows";

#[derive(Debug, Error)]
pub enum FlowsError {
    #[error(transparent)]
    Agent(#[from] ClientError),
    #[error("writing flows to stdout: {0}")]
    Output(#[from] io::Error),
    #[error("the agent ended the follow stream (did it stop?)")]
    StreamEnded,
}

/// What one request asks the agent: filters, then the window (which
/// flows of the matching ones), then `follow`.
fn query(
    filter_pairs: &[(String, String)],
    window: Option<&FlowWindowArgs>,
    follow: bool,
) -> String {
    let mut pairs = filter_pairs.to_vec();
    if let Some(window) = window {
        if let Some(last) = window.last {
            pairs.push(("limit".into(), last.to_string()));
        }
        if let Some(since) = window.since {
            pairs.push(("since".into(), duration_parameter(since)));
        }
    }
    if follow {
        pairs.push(("follow".into(), "true".into()));
    }
    with_query(PATH, &pairs)
}

/// A duration as the agent's `since` reads it: whole seconds when it is
/// whole, else milliseconds (humantime's own spelling has spaces).
fn duration_parameter(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis().max(1))
    }
}

pub async fn dump(
    agent: &AgentClient,
    args: &FlowsDumpArgs,
    filters: &FlowFilters,
    style: &Style,
) -> Result<ExitCode, FlowsError> {
    let pairs = match filters.query_pairs() {
        Ok(pairs) => pairs,
        Err(e) => return Ok(usage_error(e)),
    };
    if args.window.last == Some(0) {
        return Ok(usage_error("--last: must be 1 or more"));
    }
    let flows = match snapshot(agent, &query(&pairs, Some(&args.window), false)).await {
        Ok(flows) => flows,
        Err(e) => return refusal_or_error(e),
    };
    let mut out = Stdout::default();
    let printed = match args.output {
        FlowFormat::Json => print_raw(&mut out, &flows),
        format => {
            let parsed = parse_flows(&flows)?;
            match format {
                FlowFormat::Table => out.block(&table::flow_table(&parsed, now_ns(), style)),
                FlowFormat::Csv => print_csv(&mut out, &parsed),
                _ => parsed
                    .iter()
                    .try_for_each(|flow| out.line(&compact::flow_line(flow, None, style))),
            }
        }
    };
    Ok(sink::finished(printed)?)
}

pub async fn observe(
    agent: &AgentClient,
    args: &FlowsObserveArgs,
    filters: &FlowFilters,
    style: &Style,
) -> Result<ExitCode, FlowsError> {
    if args.output == FlowFormat::Csv {
        return Ok(usage_error(
            "-o csv: flows observe prints compact, json or table (csv is for flows dump)",
        ));
    }
    if args.window.last == Some(0) {
        return Ok(usage_error("--last: must be 1 or more"));
    }
    let pairs = match filters.query_pairs() {
        Ok(pairs) => pairs,
        Err(e) => return Ok(usage_error(e)),
    };
    // Subscribed before the snapshot is taken, so no event between the two
    // is lost (one may show twice: in the snapshot and as an event).
    let stream = match args.follow {
        true => match agent.stream_lines(&query(&pairs, None, true)).await {
            Ok(stream) => Some(stream),
            Err(e) => return refusal_or_error(e),
        },
        false => None,
    };
    let flows = match snapshot(agent, &query(&pairs, Some(&args.window), false)).await {
        Ok(flows) => flows,
        Err(e) => return refusal_or_error(e),
    };
    let mut printer = EventPrinter {
        out: Stdout::default(),
        format: args.output,
        style: *style,
        fixed_widths: stream.is_some(),
    };
    let printed = match args.output {
        FlowFormat::Json => print_raw(&mut printer.out, &flows),
        _ => printer.snapshot(&parse_flows(&flows)?),
    };
    match (printed, stream) {
        (Ok(()), Some(stream)) => follow(stream, printer).await,
        (printed, _) => Ok(sink::finished(printed)?),
    }
}

/// Prints stream lines until the agent ends the stream (exit 1), or
/// stdout's reader goes away or Ctrl-C (exit 0).
async fn follow(mut stream: LineStream, mut printer: EventPrinter) -> Result<ExitCode, FlowsError> {
    let interrupted = tokio::signal::ctrl_c();
    let reader_gone = sink::reader_gone();
    tokio::pin!(interrupted, reader_gone);
    loop {
        let line = tokio::select! {
            line = stream.next_line() => line?,
            _ = &mut interrupted => return Ok(ExitCode::SUCCESS),
            () = &mut reader_gone => return Ok(ExitCode::SUCCESS),
        };
        let Some(line) = line else {
            return Err(FlowsError::StreamEnded);
        };
        if line.trim().is_empty() {
            continue;
        }
        match printer.event(&line) {
            Ok(()) => {}
            Err(e) if sink::is_closed(&e) => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e.into()),
        }
    }
}

struct EventPrinter {
    out: Stdout,
    format: FlowFormat,
    style: Style,
    /// Table rows printed one by one cannot be measured together.
    fixed_widths: bool,
}

impl EventPrinter {
    fn snapshot(&mut self, flows: &[Flow]) -> io::Result<()> {
        match self.format {
            FlowFormat::Table if self.fixed_widths => {
                let header = table::header_line(&STREAM_COLUMNS, &STREAM_WIDTHS, &self.style);
                self.out.line(&header)?;
                flows.iter().try_for_each(|flow| self.stream_row(flow, "-"))
            }
            FlowFormat::Table => self
                .out
                .block(&table::flow_table(flows, now_ns(), &self.style)),
            _ => flows
                .iter()
                .try_for_each(|flow| self.out.line(&compact::flow_line(flow, None, &self.style))),
        }
    }

    fn stream_row(&mut self, flow: &Flow, event: &str) -> io::Result<()> {
        let mut cells = table::flow_cells(flow, now_ns());
        cells.push(Cell::from(event));
        self.out.line(&table::row_line(
            &STREAM_COLUMNS,
            &STREAM_WIDTHS,
            &cells,
            &self.style,
        ))
    }

    /// One line of the follow stream: flows in the chosen format, lag
    /// notes on stderr, other events (security findings) as they are.
    fn event(&mut self, line: &str) -> io::Result<()> {
        let parsed = match StreamLine::parse(line) {
            Ok(parsed) => parsed,
            Err(e) => {
                eprintln!("netmon-cli: skipping a stream line that is not an event ({e}): {line}");
                return Ok(());
            }
        };
        match parsed {
            StreamLine::Lagged { missed } => {
                eprintln!("lagged: {missed} events missed");
                Ok(())
            }
            _ if self.format == FlowFormat::Json => self.out.line(line),
            StreamLine::Flow { flow, event } if self.format == FlowFormat::Table => {
                self.stream_row(&flow, &event)
            }
            StreamLine::Flow { flow, event } => {
                self.out
                    .line(&compact::flow_line(&flow, Some(&event), &self.style))
            }
            StreamLine::Other(event) => self
                .out
                .line(&compact::other_event_line(&event, &self.style)),
        }
    }
}

/// The flows the agent answers `path` with, each kept as the agent wrote
/// it so `-o json` prints it unchanged.
async fn snapshot(agent: &AgentClient, path: &str) -> Result<Vec<Box<RawValue>>, ClientError> {
    agent.get_json(path).await
}

fn parse_flows(flows: &[Box<RawValue>]) -> Result<Vec<Flow>, ClientError> {
    flows
        .iter()
        .map(|raw| {
            serde_json::from_str(raw.get()).map_err(|source| ClientError::Decode {
                path: PATH.to_owned(),
                source,
            })
        })
        .collect()
}

fn print_raw(out: &mut Stdout, flows: &[Box<RawValue>]) -> io::Result<()> {
    flows.iter().try_for_each(|raw| out.line(raw.get()))
}

fn print_csv(out: &mut Stdout, flows: &[Flow]) -> io::Result<()> {
    out.line(&csv::header())?;
    flows.iter().try_for_each(|flow| out.line(&csv::row(flow)))
}

/// The agent refusing a query (400) means a filter value it does not
/// accept, a usage error; anything else is a failure.
fn refusal_or_error(error: ClientError) -> Result<ExitCode, FlowsError> {
    match error {
        ClientError::Refused {
            status, message, ..
        } if status == StatusCode::BAD_REQUEST => Ok(usage_error(format!(
            "the agent does not accept the filters: {message}"
        ))),
        other => Err(other.into()),
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_becomes_limit_and_since_after_the_filters() {
        let window = FlowWindowArgs {
            last: Some(20),
            since: Some(Duration::from_secs(300)),
        };
        let filters = vec![("not_port".to_owned(), "53".to_owned())];
        assert_eq!(
            query(&filters, Some(&window), false),
            "/api/v1/flows?not_port=53&limit=20&since=300s"
        );
        assert_eq!(
            query(&filters, None, true),
            "/api/v1/flows?not_port=53&follow=true"
        );
        assert_eq!(query(&[], None, false), "/api/v1/flows");
    }

    #[test]
    fn sub_second_durations_are_sent_in_milliseconds() {
        assert_eq!(duration_parameter(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_parameter(Duration::from_secs(3600)), "3600s");
    }
}
