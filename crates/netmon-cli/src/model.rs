//! The agent's flow JSON as the CLI reads it. Only the fields the CLI
//! shows are typed; the rest is kept in `extra` so `-o json` prints the
//! agent's object unchanged. Unknown fields are never an error: a newer
//! agent may add some.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Flow {
    pub id: u64,
    pub src_ip: String,
    pub src_port: u16,
    pub dst_ip: String,
    pub dst_port: u16,
    pub protocol: String,
    pub direction: String,
    #[serde(default)]
    pub interface: Option<String>,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub rx_packets: u64,
    pub status: String,
    pub first_seen: String,
    pub last_seen: String,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    #[serde(default)]
    pub connect_latency_us: Option<u64>,
    #[serde(default)]
    pub rtt_mean_us: Option<u64>,
    #[serde(default)]
    pub retransmits: u64,
    #[serde(default)]
    pub drops: u64,
    #[serde(default)]
    pub app_protocol: Option<String>,
    #[serde(default)]
    pub src_pod: Option<String>,
    #[serde(default)]
    pub src_namespace: Option<String>,
    #[serde(default)]
    pub src_workload: Option<String>,
    #[serde(default)]
    pub dst_pod: Option<String>,
    #[serde(default)]
    pub dst_namespace: Option<String>,
    #[serde(default)]
    pub dst_workload: Option<String>,
    #[serde(default)]
    pub dst_service: Option<String>,
    #[serde(default)]
    pub dst_dns_name: Option<String>,
    /// Every other field of the agent's object.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Flow {
    pub fn bytes(&self) -> u64 {
        self.tx_bytes.saturating_add(self.rx_bytes)
    }

    pub fn packets(&self) -> u64 {
        self.tx_packets.saturating_add(self.rx_packets)
    }

    /// `pod.namespace` when Kubernetes named the end, else its address.
    pub fn src_name(&self) -> String {
        end_name(&self.src_pod, &self.src_namespace, &self.src_ip)
    }

    pub fn dst_name(&self) -> String {
        end_name(&self.dst_pod, &self.dst_namespace, &self.dst_ip)
    }
}

fn end_name(pod: &Option<String>, namespace: &Option<String>, ip: &str) -> String {
    match (pod, namespace) {
        (Some(pod), Some(namespace)) => format!("{namespace}/{pod}"),
        (Some(pod), None) => pod.clone(),
        _ => ip.to_owned(),
    }
}

/// One line of a follow stream: a flow event, or a note that the client
/// fell behind and missed some.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamLine {
    Flow {
        event: String,
        flow: Box<Flow>,
    },
    Lagged {
        missed: u64,
    },
    /// Any other event kind (security events share the stream).
    Other(Value),
}

impl StreamLine {
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        let value: Value = serde_json::from_str(line)?;
        let event = value
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if event == "lagged" {
            let missed = value.get("missed").and_then(Value::as_u64).unwrap_or(0);
            return Ok(StreamLine::Lagged { missed });
        }
        if value.get("src_ip").is_some() && value.get("tx_bytes").is_some() {
            let flow: Flow = serde_json::from_value(value)?;
            return Ok(StreamLine::Flow {
                event,
                flow: Box::new(flow),
            });
        }
        Ok(StreamLine::Other(value))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One flow as the agent's JSON has it: a closed HTTP connection of
    /// 1 MiB out and 300,000 bytes back, last seen at 17:00:00.250 UTC.
    pub(crate) const FIXED_FLOW_JSON: &str = r#"{"id":7,"src_ip":"10.0.0.1","src_port":40000,"dst_ip":"10.0.0.2","dst_port":8080,"protocol":"tcp","protocol_number":6,"ip_version":4,"direction":"forwarded","interface":"veth-a","tx_bytes":1048576,"rx_bytes":300000,"tx_packets":700,"rx_packets":400,"tcp_flags":["SYN","ACK","FIN"],"status":"closed","first_seen":"2025-12-03T16:59:58.000000000Z","last_seen":"2025-12-03T17:00:00.250000000Z","first_seen_ns":1764781198000000000,"last_seen_ns":1764781200250000000,"ended_at":"2025-12-03T17:00:00.250000000Z","connect_latency_us":850,"rtt_mean_us":120,"retransmits":0,"drops":0,"app_protocol":"http","src_pod":null,"src_namespace":null,"dst_pod":null,"dst_namespace":null,"dst_service":null,"dst_dns_name":null}"#;

    pub(crate) fn fixed_flow() -> Flow {
        serde_json::from_str(FIXED_FLOW_JSON).expect("the fixture is a flow")
    }

    #[test]
    fn fields_the_cli_does_not_show_are_kept() {
        let flow = fixed_flow();
        assert_eq!(flow.extra["protocol_number"], 6);
        assert_eq!(
            flow.extra["tcp_flags"],
            serde_json::json!(["SYN", "ACK", "FIN"])
        );
        assert_eq!(flow.bytes(), 1_348_576);
        assert_eq!(flow.packets(), 1100);
    }

    #[test]
    fn stream_lines_are_flows_lagged_notes_or_other_events() {
        let event = FIXED_FLOW_JSON.replacen('{', r#"{"event":"closed","#, 1);
        match StreamLine::parse(&event).unwrap() {
            StreamLine::Flow { event, flow } => {
                assert_eq!(event, "closed");
                assert_eq!(flow.id, 7);
            }
            other => panic!("not a flow: {other:?}"),
        }
        assert_eq!(
            StreamLine::parse(r#"{"event":"lagged","missed":12}"#).unwrap(),
            StreamLine::Lagged { missed: 12 }
        );
        assert!(matches!(
            StreamLine::parse(r#"{"event":"security","type":"port_scan"}"#).unwrap(),
            StreamLine::Other(_)
        ));
    }
}
