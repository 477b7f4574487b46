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
