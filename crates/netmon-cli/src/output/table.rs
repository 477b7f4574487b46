//! Aligned columns for people: a generic table (status, stats) and the
//! flow table of `flows dump` / `flows observe -o table`.

use super::style::{Color, Style};
use super::units;
use crate::model::Flow;

/// Between columns.
const GAP: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers, so that their units line up.
    Right,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub align: Align,
}

pub const fn left(header: &'static str) -> Column {
    Column {
        header,
        align: Align::Left,
    }
}

pub const fn right(header: &'static str) -> Column {
    Column {
        header,
        align: Align::Right,
    }
}

/// One cell: its text and the colour it is shown in (colours never count
/// towards the width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub color: Option<Color>,
}

impl Cell {
    pub fn colored(text: impl Into<String>, color: Option<Color>) -> Self {
        Cell {
            text: text.into(),
            color,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell { text, color: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_owned())
    }
}

/// Rows under a header, every column as wide as its widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: &[Column]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Header and rows, each line ending in a newline.
    pub fn render(&self, style: &Style) -> String {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|cell| width(&cell.text))
                    .chain([width(column.header)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = header_line(&self.columns, &widths, style);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&row_line(&self.columns, &widths, row, style));
            out.push('\n');
        }
        out
    }
}

/// The header in bold, padded to `widths`.
pub fn header_line(columns: &[Column], widths: &[usize], style: &Style) -> String {
    let cells: Vec<Cell> = columns
        .iter()
        .map(|c| Cell::colored(c.header, Some(Color::Bold)))
        .collect();
    row_line(columns, widths, &cells, style)
}

/// One row padded to `widths`; a cell wider than its column pushes the
/// rest to the right rather than being cut. No trailing spaces.
pub fn row_line(columns: &[Column], widths: &[usize], cells: &[Cell], style: &Style) -> String {
    let mut line = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        let column_width = widths.get(i).copied().unwrap_or(0);
        let padding = " ".repeat(column_width.saturating_sub(width(&cell.text)));
        let align = columns.get(i).map_or(Align::Left, |c| c.align);
        let text = match cell.color {
            Some(color) => style.paint(&cell.text, color),
            None => cell.text.clone(),
        };
        if i > 0 {
            line.push_str(GAP);
        }
        match align {
            Align::Right => {
                line.push_str(&padding);
                line.push_str(&text);
            }
            Align::Left if i == last => line.push_str(&text),
            Align::Left => {
                line.push_str(&text);
                line.push_str(&padding);
            }
        }
    }
    line
}

/// Characters on screen (`µ` is two bytes, one column).
fn width(text: &str) -> usize {
    text.chars().count()
}

/// `key  value` lines with the keys padded to the longest: the layout of
/// one-object reports (status, stats).
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let key_width = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(key, value)| {
            let padding = " ".repeat(key_width - width(key));
            format!("{key}{padding}{GAP}{value}\n")
        })
        .collect()
}

/// The flow table's columns.
pub const FLOW_COLUMNS: [Column; 10] = [
    left("SRC"),
    left("DST"),
    left("PROTO"),
    left("STATUS"),
    right("TX"),
    right("RX"),
    right("PACKETS"),
    right("LAST SEEN"),
    right("LATENCY"),
    left("APP"),
];

/// The columns of a followed table: the flow's, then which event the row
/// is (`-` for the flows listed before the stream).
pub const STREAM_COLUMNS: [Column; 11] = flow_columns_then(left("EVENT"));

const fn flow_columns_then(last: Column) -> [Column; 11] {
    let mut columns = [last; 11];
    let mut i = 0;
    while i < FLOW_COLUMNS.len() {
        columns[i] = FLOW_COLUMNS[i];
        i += 1;
    }
    columns
}

/// Column widths for a table printed row by row (a followed stream cannot
/// measure rows it has not seen): wide enough for IPv4 ends and the
/// usual units.
pub const STREAM_WIDTHS: [usize; 11] = [21, 21, 6, 7, 10, 10, 7, 9, 7, 4, 5];

/// One flow as table cells. `now_ns` (wall clock) dates "last seen".
pub fn flow_cells(flow: &Flow, now_ns: u64) -> Vec<Cell> {
    let last_seen = now_ns.saturating_sub(flow.last_seen_ns) / 1_000_000_000;
    vec![
        Cell::from(endpoint(&flow.src_name(), flow.src_port)),
        Cell::from(endpoint(&flow.dst_name(), flow.dst_port)),
        Cell::from(flow.protocol.as_str()),
        Cell::colored(flow.status.as_str(), Style::status_color(&flow.status)),
        Cell::from(units::bytes(flow.tx_bytes)),
        Cell::from(units::bytes(flow.rx_bytes)),
        Cell::from(units::count(flow.packets() as f64)),
        Cell::from(format!("{} ago", units::age(last_seen))),
        Cell::from(
            flow.connect_latency_us
                .map_or_else(|| "-".to_owned(), units::micros),
        ),
        Cell::from(flow.app_protocol.as_deref().unwrap_or("-")),
    ]
}

/// Every flow in one table sized to its rows.
pub fn flow_table(flows: &[Flow], now_ns: u64, style: &Style) -> String {
    let mut table = Table::new(&FLOW_COLUMNS);
    for flow in flows {
        table.row(flow_cells(flow, now_ns));
    }
    table.render(style)
}

/// `10.0.0.1:80`, `[fd00::1]:80`, `shop/web-1:80`.
pub fn endpoint(name: &str, port: u16) -> String {
    if name.contains(':') {
        format!("[{name}]:{port}")
    } else {
        format!("{name}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::fixed_flow;

    /// 12 s after the fixed flow's last packet.
    const NOW_NS: u64 = 1_764_781_212_250_000_000;

    #[test]
    fn a_flow_table_aligns_text_left_and_numbers_right() {
        let mut refused = fixed_flow();
        refused.src_port = 51234;
        refused.dst_ip = "fd00::2".into();
        refused.src_ip = "fd00::1".into();
        refused.status = "refused".into();
        refused.tx_bytes = 74;
        refused.rx_bytes = 54;
        refused.tx_packets = 1;
        refused.rx_packets = 1;
        refused.connect_latency_us = None;
        refused.app_protocol = None;
        let table = flow_table(&[fixed_flow(), refused], NOW_NS, &Style { color: false });
        assert_eq!(
            table,
            "\
SRC              DST             PROTO  STATUS        TX         RX  PACKETS  LAST SEEN  LATENCY  APP
10.0.0.1:40000   10.0.0.2:8080   tcp    closed   1.0 MiB  293.0 KiB     1.1k    12s ago    850µs  http
[fd00::1]:51234  [fd00::2]:8080  tcp    refused     74 B       54 B        2    12s ago        -  -
"
        );
    }

    #[test]
    fn kubernetes_names_replace_addresses_and_colours_mark_failures() {
        let mut flow = fixed_flow();
        flow.src_pod = Some("web-1".into());
        flow.src_namespace = Some("shop".into());
        flow.status = "reset".into();
        let cells = flow_cells(&flow, NOW_NS);
        assert_eq!(cells[0].text, "shop/web-1:40000");
        assert_eq!(cells[1].text, "10.0.0.2:8080");
        assert_eq!(cells[3], Cell::colored("reset", Some(Color::Red)));
        let line = row_line(
            &FLOW_COLUMNS,
            &STREAM_WIDTHS,
            &cells,
            &Style { color: true },
        );
        assert!(line.contains("\x1b[31mreset\x1b[0m  "), "{line:?}");
    }

    #[test]
    fn a_followed_table_has_fixed_widths_and_the_event() {
        let mut cells = flow_cells(&fixed_flow(), NOW_NS);
        cells.push(Cell::from("closed"));
        let style = Style { color: false };
        assert_eq!(
            header_line(&STREAM_COLUMNS, &STREAM_WIDTHS, &style),
            "SRC                    DST                    PROTO   STATUS           TX          RX  PACKETS  LAST SEEN  LATENCY  APP   EVENT"
        );
        assert_eq!(
            row_line(&STREAM_COLUMNS, &STREAM_WIDTHS, &cells, &style),
            "10.0.0.1:40000         10.0.0.2:8080          tcp     closed      1.0 MiB   293.0 KiB     1.1k    12s ago    850µs  http  closed"
        );
    }

    #[test]
    fn key_values_pad_the_keys() {
        assert_eq!(
            key_values(&[("Version", "0.1.0".into()), ("Uptime", "3h4m".into())]),
            "Version  0.1.0\nUptime   3h4m\n"
        );
    }
}
