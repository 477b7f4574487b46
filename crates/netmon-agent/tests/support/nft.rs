//! Ground truth from nftables: per-flow named counters in the pods'
//! namespaces, read back as JSON.
//!
//! Each direction of a flow is counted in the input chain of the pod it
//! arrives at, never in the sender's output chain: TCP hands skbs to the
//! stack as GSO super-packets regardless of the device's offload settings
//! and the device segments them only at transmit, after every netfilter
//! hook, so the sender's hooks would see fewer, bigger packets than the
//! link carries. The receiving pod sees exactly what crossed the links (its
//! veth does no GRO), which is also what the agent's TC programs on the
//! node see.
//!
//! nftables counts L3 packets (IP header onwards); the agent counts
//! link-layer bytes, so [`FlowTruth::link_layer`] adds the Ethernet header
//! per packet.

use std::net::{IpAddr, SocketAddr};

use super::netns::Netns;
use super::{FlowCounts, ETHERNET_HEADER_BYTES};

const TABLE: &str = "netmon_truth";

/// Packets and bytes as one nftables counter saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

/// Both directions of one flow: `tx` from the initiator to the responder,
/// `rx` back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowTruth {
    pub tx: Counter,
    pub rx: Counter,
}

impl FlowTruth {
    /// What the agent should report for this flow: the same packets, each
    /// with its Ethernet header.
    pub fn link_layer(&self) -> FlowCounts {
        FlowCounts {
            tx_bytes: self.tx.bytes + ETHERNET_HEADER_BYTES * self.tx.packets,
            tx_packets: self.tx.packets,
            rx_bytes: self.rx.bytes + ETHERNET_HEADER_BYTES * self.rx.packets,
            rx_packets: self.rx.packets,
        }
    }
}

/// Which packets belong to a flow.
#[derive(Debug, Clone, Copy)]
pub enum FlowMatch {
    /// A TCP connection from `client` (any port) to `server`.
    Tcp { client: IpAddr, server: SocketAddr },
    /// UDP datagrams between `client` (any port) and `server`.
    Udp { client: IpAddr, server: SocketAddr },
    /// ICMP or ICMPv6 echo requests from `client` to `server` with this
    /// identifier, and the replies.
    Echo {
        client: IpAddr,
        server: IpAddr,
        identifier: u16,
    },
}

impl FlowMatch {
    /// Match expressions for (initiator → responder, responder →
    /// initiator).
    fn expressions(&self) -> (String, String) {
        match *self {
            FlowMatch::Tcp { client, server } => transport("tcp", client, server),
            FlowMatch::Udp { client, server } => transport("udp", client, server),
            FlowMatch::Echo {
                client,
                server,
                identifier,
            } => {
                let (ip, icmp) = families(server);
                (
                    format!(
                        "{ip} saddr {client} {ip} daddr {server} \
                         {icmp} type echo-request {icmp} id {identifier}"
                    ),
                    format!(
                        "{ip} saddr {server} {ip} daddr {client} \
                         {icmp} type echo-reply {icmp} id {identifier}"
                    ),
                )
            }
        }
    }
}

fn families(address: IpAddr) -> (&'static str, &'static str) {
    match address {
        IpAddr::V4(_) => ("ip", "icmp"),
        IpAddr::V6(_) => ("ip6", "icmpv6"),
    }
}

fn transport(protocol: &str, client: IpAddr, server: SocketAddr) -> (String, String) {
    let (ip, _) = families(server.ip());
    let (address, port) = (server.ip(), server.port());
    (
        format!("{ip} saddr {client} {ip} daddr {address} {protocol} dport {port}"),
        format!("{ip} saddr {address} {ip} daddr {client} {protocol} sport {port}"),
    )
}

/// The counters of one flow, installed before its first packet.
pub struct TruthCounter<'a> {
    initiator: &'a Netns,
    responder: &'a Netns,
    name: String,
}

/// Starts counting `flow` under `name` (letters, digits, underscores;
/// unique per namespace): initiator → responder packets as they arrive in
/// `responder`, the others as they arrive in `initiator`.
pub fn count_flow<'a>(
    initiator: &'a Netns,
    responder: &'a Netns,
    name: &str,
    flow: FlowMatch,
) -> TruthCounter<'a> {
    let (forward, backward) = flow.expressions();
    add_input_counter(responder, &format!("{name}_tx"), &forward, "");
    add_input_counter(initiator, &format!("{name}_rx"), &backward, "");
    TruthCounter {
        initiator,
        responder,
        name: name.to_string(),
    }
}

impl TruthCounter<'_> {
    /// Current counts of the flow.
    pub fn read(&self) -> FlowTruth {
        FlowTruth {
            tx: read_counter(self.responder, &format!("{}_tx", self.name)),
            rx: read_counter(self.initiator, &format!("{}_rx", self.name)),
        }
    }

    /// The counts once the flow went quiet (two reads 100 ms apart agree),
    /// so a last ACK still on its way is included.
    pub fn read_when_quiet(&self) -> FlowTruth {
        let mut previous = self.read();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let current = self.read();
            if current == previous {
                return current;
            }
            previous = current;
        }
    }
}

/// Drops every TCP packet arriving in `ns` for `port`, counting them under
/// `name`: a server that never answers, so connects time out. Rules run in
/// the order they were added, so flows counted before still see the packets.
pub fn drop_incoming_tcp(ns: &Netns, name: &str, port: u16) {
    add_input_counter(ns, name, &format!("tcp dport {port}"), "drop");
}

/// Drops the packets arriving in `ns` that match the nftables
/// `expression`, counting them under `name`: the drop rule's own counter is
/// the ground truth of how many the kernel dropped there.
pub fn drop_incoming(ns: &Netns, name: &str, expression: &str) {
    add_input_counter(ns, name, expression, "drop");
}

/// Sets up a connect from `client` in `initiator` to `server` in
/// `responder` that times out: the flow is counted under "timeout", the
/// responder drops every SYN, and the initiator gives up after one SYN
/// retransmission (per-namespace sysctl) so the connect fails in seconds.
pub fn count_timing_out_connect<'a>(
    initiator: &'a Netns,
    responder: &'a Netns,
    client: std::net::IpAddr,
    server: std::net::SocketAddr,
) -> TruthCounter<'a> {
    let truth = count_flow(
        initiator,
        responder,
        "timeout",
        FlowMatch::Tcp { client, server },
    );
    drop_incoming_tcp(responder, "dropped", server.port());
    initiator.set_sysctl("net.ipv4.tcp_syn_retries", "1");
    truth
}

/// Adds a named counter and an input-chain rule feeding it, creating the
/// table on first use (`add` of an existing table or chain is a no-op). The
/// table goes away with the namespace.
fn add_input_counter(ns: &Netns, name: &str, expression: &str, verdict: &str) {
    ns.exec_with_stdin(
        "nft",
        &["-f", "-"],
        &format!(
            "add table inet {TABLE}
             add chain inet {TABLE} input {{ type filter hook input priority 0; policy accept; }}
             add counter inet {TABLE} {name}
             add rule inet {TABLE} input {expression} counter name {name} {verdict}"
        ),
    );
}

/// One named counter of `ns`.
pub fn read_counter(ns: &Netns, name: &str) -> Counter {
    let json = ns.exec("nft", &["-j", "list", "counter", "inet", TABLE, name]);
    parse_counter(&json, name)
        .unwrap_or_else(|| panic!("no counter {name} in `nft -j list counter` output: {json}"))
}

/// Extracts a named counter from `nft -j` output.
pub fn parse_counter(json: &str, name: &str) -> Option<Counter> {
    let parsed: serde_json::Value = serde_json::from_str(json).ok()?;
    parsed["nftables"]
        .as_array()?
        .iter()
        .filter_map(|item| item.get("counter"))
        .find(|c| c["name"] == name)
        .map(|c| Counter {
            packets: c["packets"].as_u64().unwrap_or_default(),
            bytes: c["bytes"].as_u64().unwrap_or_default(),
        })
}
