//! The screen: a three-line header (agent, refresh period, sort key, view;
//! filters and totals; the poll's state), the table of flows or peers, and
//! a footer with the keys or the filter prompt.

use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::state::TopState;
use super::text;
use crate::cli::{TopRows, TopSort};
use crate::output::units;

const KEYS: &str =
    "b bytes/s  p packets/s  c connections  f flows/peers  / filter  Esc clear filter  q quit";

pub fn render(frame: &mut Frame, state: &TopState) {
    let [header, table, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_lines(state)), header);
    match state.rows {
        TopRows::Flows => frame.render_widget(flow_table(state), table),
        TopRows::Peers => frame.render_widget(peer_table(state), table),
    }
    render_footer(frame, state, footer);
}

fn header_lines(state: &TopState) -> Vec<Line<'static>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rows = match state.rows {
        TopRows::Flows => "flows",
        TopRows::Peers => "peers",
    };
    let title = Line::from(vec![
        Span::styled("netmon-cli top", bold),
        Span::raw(format!(
            " · agent {} · every {} · sort: ",
            state.agent,
            humantime::format_duration(state.interval)
        )),
        Span::styled(sort_label(state), bold),
        Span::raw(format!(" · view: {rows}")),
    ]);
    let totals = state.totals();
    let matching = if state.filter.is_empty() {
        "none".to_owned()
    } else {
        state.filter.text().to_owned()
    };
    let summary = Line::from(format!(
        "filter: {} · match: {matching} · {} {} · {} · {} pkt/s",
        state.agent_filter,
        totals.flows,
        if totals.flows == 1 { "flow" } else { "flows" },
        units::byte_rate(totals.bytes_per_second),
        units::count(totals.packets_per_second),
    ));
    let status = match (&state.poll_error, state.measuring()) {
        (Some(error), _) => Line::styled(
            format!(
                "poll failed, retrying every {}: {error}",
                humantime::format_duration(state.interval)
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        (None, true) => Line::styled(
            "measuring: rates appear after the second poll",
            Style::new().fg(Color::DarkGray),
        ),
        (None, false) => Line::default(),
    };
    vec![title, summary, status]
}

/// The sort key as the header names it: in the flows view `c` orders by
/// connection age, in the peers view by how many connections a peer has.
fn sort_label(state: &TopState) -> &'static str {
    match (state.sort, state.rows) {
        (TopSort::Bytes, _) => "bytes/s",
        (TopSort::Packets, _) => "packets/s",
        (TopSort::Connections, TopRows::Flows) => "age",
        (TopSort::Connections, TopRows::Peers) => "connections",
    }
}

fn flow_table(state: &TopState) -> Table<'static> {
    let now = state.now_unix_ns();
    let rows = state.visible_flows().into_iter().map(|rate| {
        let flow = &rate.flow;
        let age_seconds = now.saturating_sub(flow.first_seen_ns) / 1_000_000_000;
        Row::new(vec![
            Cell::from(text::source(flow)),
            Cell::from(text::destination(flow)),
            Cell::from(flow.protocol.clone()),
            Cell::from(Span::styled(
                flow.status.clone(),
                status_style(&flow.status),
            )),
            right(rate.bytes_per_second.map_or("-".into(), units::byte_rate)),
            right(rate.packets_per_second.map_or("-".into(), units::count)),
            right(units::bytes(flow.bytes())),
            right(units::age(age_seconds)),
        ])
    });
    let sorted = match state.sort {
        TopSort::Bytes => 4,
        TopSort::Packets => 5,
        TopSort::Connections => 7,
    };
    let header = header_row(
        &[
            "SRC",
            "DST",
            "PROTO",
            "STATUS",
            "BYTES/s",
            "PKTS/s",
            "TOTAL BYTES",
            "AGE",
        ],
        4,
        sorted,
    );
    Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(6),
        ],
    )
    .header(header)
}

fn peer_table(state: &TopState) -> Table<'static> {
    let rows = state.visible_peers().into_iter().map(|peer| {
        Row::new(vec![
            Cell::from(peer.name),
            right(peer.flows.to_string()),
            right(peer.bytes_per_second.map_or("-".into(), units::byte_rate)),
            right(peer.packets_per_second.map_or("-".into(), units::count)),
            right(units::bytes(peer.total_bytes)),
        ])
    });
    let sorted = match state.sort {
        TopSort::Bytes => 2,
        TopSort::Packets => 3,
        TopSort::Connections => 1,
    };
    let header = header_row(
        &["PEER", "FLOWS", "BYTES/s", "PKTS/s", "TOTAL BYTES"],
        1,
        sorted,
    );
    Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(11),
        ],
    )
    .header(header)
}

/// Column titles; those from `first_number` on are right-aligned like
/// their figures, and the sort column is underlined.
fn header_row(titles: &[&'static str], first_number: usize, sorted: usize) -> Row<'static> {
    let cells = titles.iter().enumerate().map(|(i, title)| {
        let mut style = Style::new().add_modifier(Modifier::BOLD);
        if i == sorted {
            style = style.add_modifier(Modifier::UNDERLINED).fg(Color::Cyan);
        }
        let line = Line::styled(*title, style);
        Cell::from(if i >= first_number {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    });
    Row::new(cells).style(Style::new().bg(Color::DarkGray))
}

fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).alignment(Alignment::Right))
}

fn status_style(status: &str) -> Style {
    match status {
        "reset" | "refused" | "timeout" => Style::new().fg(Color::Red),
        "closed" => Style::new().fg(Color::DarkGray),
        _ => Style::new(),
    }
}

fn render_footer(frame: &mut Frame, state: &TopState, area: Rect) {
    match &state.prompt {
        Some(typed) => {
            let line = Line::from(vec![
                Span::styled("filter: ", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(typed.clone()),
                Span::styled(
                    "  (Enter apply, Esc cancel)",
                    Style::new().fg(Color::DarkGray),
                ),
            ]);
            frame.render_widget(Paragraph::new(line), area);
            let typed_width = u16::try_from(typed.chars().count()).unwrap_or(u16::MAX);
            let column = area
                .x
                .saturating_add(8)
                .saturating_add(typed_width)
                .min(area.right().saturating_sub(1));
            frame.set_cursor_position(Position::new(column, area.y));
        }
        None => frame.render_widget(
            Paragraph::new(Line::styled(KEYS, Style::new().fg(Color::DarkGray))),
            area,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::top::filter::TextFilter;
    use crate::top::rates::tests::flow;
    use crate::top::rates::Snapshot;

    const T0_NS: u64 = 1_700_000_000_000_000_000;

    /// Two polls one second apart: flow 1 grew by 200 KiB and 150
    /// packets, flow 2 (60 s older) by 10 KiB and 300 packets.
    fn state() -> TopState {
        let mut state = TopState::new(
            "http://127.0.0.1:9091".into(),
            Duration::from_secs(1),
            "port=5001".into(),
            TopRows::Flows,
            TopSort::Bytes,
        );
        let start = Instant::now();
        let old = T0_NS - 60_000_000_000;
        let mut second = flow(2, (20_480, 0), (300, 0), old);
        second.status = "closed".into();
        state.record_snapshot(Snapshot {
            flows: vec![
                flow(1, (1_048_576, 0), (1_000, 0), T0_NS - 5_000_000_000),
                flow(2, (10_240, 0), (0, 0), old),
            ],
            taken_at: start,
            taken_at_unix_ns: T0_NS,
        });
        state.record_snapshot(Snapshot {
            flows: vec![
                flow(
                    1,
                    (1_048_576 + 204_800, 0),
                    (1_150, 0),
                    T0_NS - 5_000_000_000,
                ),
                second,
            ],
            taken_at: start + Duration::from_secs(1),
            taken_at_unix_ns: T0_NS + 1_000_000_000,
        });
        state
    }

    fn screen(state: &TopState, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| render(frame, state)).unwrap();
        let buffer = terminal.backend().buffer();
        buffer
            .content
            .chunks(usize::from(width))
            .map(|cells| cells.iter().map(|c| c.symbol()).collect::<String>())
            .collect()
    }

    #[test]
    fn the_flows_view_shows_header_totals_and_rows_by_byte_rate() {
        assert_eq!(
            screen(&state(), 100, 7),
            vec![
                "netmon-cli top · agent http://127.0.0.1:9091 · every 1s · sort: bytes/s · view: flows               ",
                "filter: port=5001 · match: none · 2 flows · 210.0 KiB/s · 450 pkt/s                                 ",
                "                                                                                                    ",
                "SRC                    DST                    PROTO STATUS       BYTES/s   PKTS/s TOTAL BYTES    AGE",
                "10.0.0.1:40001         10.0.0.2:5001          tcp   active   200.0 KiB/s      150     1.2 MiB     6s",
                "10.0.0.1:40002         10.0.0.2:5001          tcp   closed    10.0 KiB/s      300    20.0 KiB   1m1s",
                "b bytes/s  p packets/s  c connections  f flows/peers  / filter  Esc clear filter  q quit            ",
            ]
        );
    }

    #[test]
    fn sorting_by_packets_puts_the_packet_heavy_flow_first_and_says_so() {
        let mut state = state();
        state.sort = TopSort::Packets;
        let lines = screen(&state, 100, 7);
        assert!(lines[0].contains("sort: packets/s"), "{}", lines[0]);
        assert!(lines[4].starts_with("10.0.0.1:40002"), "{}", lines[4]);
        assert!(lines[5].starts_with("10.0.0.1:40001"), "{}", lines[5]);
    }

    #[test]
    fn the_filter_leaves_only_matching_rows_and_the_header_names_it() {
        let mut state = state();
        state.filter = TextFilter::new(":40002");
        let lines = screen(&state, 100, 7);
        assert_eq!(
            lines[1].trim_end(),
            "filter: port=5001 · match: :40002 · 1 flow · 10.0 KiB/s · 300 pkt/s"
        );
        assert!(lines[4].starts_with("10.0.0.1:40002"), "{}", lines[4]);
        assert_eq!(lines[5].trim(), "");
    }

    #[test]
    fn the_peers_view_sums_flows_per_peer() {
        let mut state = state();
        state.rows = TopRows::Peers;
        assert_eq!(
            screen(&state, 60, 7)[3..6],
            [
                "PEER                 FLOWS      BYTES/s   PKTS/s TOTAL BYTES",
                "10.0.0.1                 2  210.0 KiB/s      450     1.2 MiB",
                "10.0.0.2                 2  210.0 KiB/s      450     1.2 MiB",
            ]
        );
    }

    #[test]
    fn a_failed_poll_shows_in_the_header_and_the_prompt_in_the_footer() {
        let mut state = state();
        state.record_poll_error("cannot reach the agent".into());
        state.prompt = Some("10.0".into());
        let lines = screen(&state, 100, 7);
        assert_eq!(
            lines[2].trim_end(),
            "poll failed, retrying every 1s: cannot reach the agent"
        );
        assert_eq!(
            lines[6].trim_end(),
            "filter: 10.0  (Enter apply, Esc cancel)"
        );
    }
}
