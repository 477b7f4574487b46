//! `-o csv`: a header and one row per flow, raw numbers (bytes, µs) so a
//! spreadsheet can sum them. Fields are quoted as RFC 4180 says (a field
//! with a comma, quote or line break is quoted, quotes doubled); lines end
//! in `\n`.

use crate::model::Flow;

pub const HEADER: [&str; 28] = [
    "id",
    "first_seen",
    "last_seen",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "direction",
    "interface",
    "status",
    "tx_bytes",
    "rx_bytes",
    "tx_packets",
    "rx_packets",
    "connect_latency_us",
    "rtt_mean_us",
    "retransmits",
    "drops",
    "app_protocol",
    "src_pod",
    "src_namespace",
    "src_workload",
    "dst_pod",
    "dst_namespace",
    "dst_workload",
    "dst_service",
    "dst_dns_name",
];

pub fn header() -> String {
    record(HEADER.iter().map(|h| h.to_string()))
}

/// One flow's row; absent values are empty fields.
pub fn row(flow: &Flow) -> String {
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    let number = |value: Option<u64>| value.map(|n| n.to_string()).unwrap_or_default();
    record([
        flow.id.to_string(),
        flow.first_seen.clone(),
        flow.last_seen.clone(),
        flow.src_ip.clone(),
        flow.src_port.to_string(),
        flow.dst_ip.clone(),
        flow.dst_port.to_string(),
        flow.protocol.clone(),
        flow.direction.clone(),
        optional(&flow.interface),
        flow.status.clone(),
        flow.tx_bytes.to_string(),
        flow.rx_bytes.to_string(),
        flow.tx_packets.to_string(),
        flow.rx_packets.to_string(),
        number(flow.connect_latency_us),
        number(flow.rtt_mean_us),
        flow.retransmits.to_string(),
        flow.drops.to_string(),
        optional(&flow.app_protocol),
        optional(&flow.src_pod),
        optional(&flow.src_namespace),
        optional(&flow.src_workload),
        optional(&flow.dst_pod),
        optional(&flow.dst_namespace),
        optional(&flow.dst_workload),
        optional(&flow.dst_service),
        optional(&flow.dst_dns_name),
    ])
}

fn record(fields: impl IntoIterator<Item = String>) -> String {
    fields
        .into_iter()
        .map(|field| quote(&field))
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4180: quote a field holding a comma, a quote or a line break, and
/// double its quotes.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::fixed_flow;

    #[test]
    fn a_row_has_raw_numbers_and_empty_fields_for_absent_values() {
        assert_eq!(
            header(),
            "id,first_seen,last_seen,src_ip,src_port,dst_ip,dst_port,protocol,direction,\
             interface,status,tx_bytes,rx_bytes,tx_packets,rx_packets,connect_latency_us,\
             rtt_mean_us,retransmits,drops,app_protocol,src_pod,src_namespace,src_workload,\
             dst_pod,dst_namespace,dst_workload,dst_service,dst_dns_name"
        );
        assert_eq!(
            row(&fixed_flow()),
            "7,2025-12-03T16:59:58.000000000Z,2025-12-03T17:00:00.250000000Z,10.0.0.1,40000,\
             10.0.0.2,8080,tcp,forwarded,veth-a,closed,1048576,300000,700,400,850,120,0,0,http,\
             ,,,,,,,"
        );
    }

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote(""), "");
        let mut flow = fixed_flow();
        flow.dst_dns_name = Some("weird,\"name\"".into());
        assert!(
            row(&flow).ends_with(",\"weird,\"\"name\"\"\""),
            "{}",
            row(&flow)
        );
    }
}
