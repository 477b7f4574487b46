//! `-o compact`: one short line per flow or event, like `hubble observe`:
//! `TIME  SRC -> DST  PROTO  STATUS  tx BYTES rx BYTES  [APP]  [[EVENT]]`,
//! the time being the flow's last packet (UTC, milliseconds).

use serde_json::Value;

use super::style::{Color, Style};
use super::table::endpoint;
use super::units;
use crate::model::Flow;

/// A flow's line; `event` (opened, updated, closed, ...) is added at the
/// end for the events of a follow stream, which often repeat a flow.
pub fn flow_line(flow: &Flow, event: Option<&str>, style: &Style) -> String {
    let status = match Style::status_color(&flow.status) {
        Some(color) => style.paint(&flow.status, color),
        None => flow.status.clone(),
    };
    let mut line = format!(
        "{}  {} -> {}  {}  {}  tx {} rx {}",
        time_of_day(flow.last_seen_ns),
        endpoint(&flow.src_name(), flow.src_port),
        endpoint(&flow.dst_name(), flow.dst_port),
        flow.protocol,
        status,
        units::bytes(flow.tx_bytes),
        units::bytes(flow.rx_bytes),
    );
    if let Some(app) = &flow.app_protocol {
        line.push_str("  ");
        line.push_str(app);
    }
    if let Some(event) = event {
        line.push_str(&format!("  [{event}]"));
    }
    line
}

/// A non-flow event of the follow stream (a security finding): its kind,
/// who and what, or the raw JSON when the kind is unknown to this CLI.
pub fn other_event_line(event: &Value, style: &Style) -> String {
    let text = |key: &str| event.get(key).and_then(Value::as_str);
    let number = |key: &str| event.get(key).and_then(Value::as_u64).unwrap_or(0);
    match (text("event"), text("type"), text("src_ip")) {
        (Some("security"), Some(kind), Some(src)) => {
            let time = event
                .get("detected_at_ns")
                .and_then(Value::as_u64)
                .map_or_else(|| "--:--:--.---".to_owned(), time_of_day);
            let target = text("dst_ip").unwrap_or("*");
            format!(
                "{time}  {} {src} -> {target}  {} ports, {} hosts",
                style.paint(kind, Color::Yellow),
                number("distinct_ports"),
                number("distinct_hosts")
            )
        }
        _ => event.to_string(),
    }
}

/// `17:00:00.250` of a wall-clock instant in nanoseconds, UTC.
pub fn time_of_day(unix_ns: u64) -> String {
    let millis = unix_ns / 1_000_000 % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::fixed_flow;

    #[test]
    fn a_compact_line_is_time_ends_protocol_status_and_bytes() {
        assert_eq!(
            flow_line(&fixed_flow(), None, &Style { color: false }),
            "17:00:00.250  10.0.0.1:40000 -> 10.0.0.2:8080  tcp  closed  tx 1.0 MiB rx 293.0 KiB  http"
        );
        let mut refused = fixed_flow();
        refused.status = "refused".into();
        refused.app_protocol = None;
        refused.dst_ip = "fd00::2".into();
        assert_eq!(
            flow_line(&refused, Some("closed"), &Style { color: true }),
            "17:00:00.250  10.0.0.1:40000 -> [fd00::2]:8080  tcp  \x1b[31mrefused\x1b[0m  tx 1.0 MiB rx 293.0 KiB  [closed]"
        );
    }

    #[test]
    fn a_security_event_says_what_was_scanned() {
        let event = serde_json::json!({
            "event": "security", "type": "port_scan", "src_ip": "10.0.0.9",
            "dst_ip": "10.0.0.2", "distinct_ports": 25, "distinct_hosts": 1,
            "detected_at_ns": 1_764_781_200_250_000_000u64,
        });
        assert_eq!(
            other_event_line(&event, &Style { color: false }),
            "17:00:00.250  port_scan 10.0.0.9 -> 10.0.0.2  25 ports, 1 hosts"
        );
        let unknown = serde_json::json!({"event": "novel"});
        assert_eq!(
            other_event_line(&unknown, &Style { color: false }),
            r#"{"event":"novel"}"#
        );
    }

    #[test]
    fn time_of_day_wraps_at_midnight() {
        assert_eq!(time_of_day(86_400_000_000_000 + 1_000_000), "00:00:00.001");
        assert_eq!(time_of_day(86_399_999_000_000), "23:59:59.999");
    }
}
