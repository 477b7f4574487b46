//! End-to-end: with `capture.sampling_rate: N` the kernel counts one packet
//! in N for flows, each as N packets and N times its bytes. The estimate is
//! random, so the packet count is checked against the binomial spread; the
//! parts that are not random are checked exactly: every counted packet is
//! scaled by N (packets a multiple of N, bytes = packets x frame size), the
//! flow carries its rate, and the interface counters still count every
//! packet.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::agent::{AgentConfig, FlowQuery};
use support::netns::IpVersion;
use support::nft::{count_flow, FlowMatch};
use support::traffic::udp_echo;
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

const RATE: u64 = 10;
const DATAGRAMS: usize = 10_000;
const PAYLOAD: usize = 100;

#[test]
fn a_sampled_flow_is_an_unbiased_estimate_scaled_by_the_rate() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig {
        sampling_rate: Some(RATE as u32),
        ..AgentConfig::default()
    });
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let links_when_ready = node.node_link_counters();
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5300);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "sampled",
        FlowMatch::Udp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );

    let ends = udp_echo(a.ns_name(), b.ns_name(), server, DATAGRAMS, PAYLOAD);
    let real = truth.read_when_quiet();
    assert_eq!(real.tx.packets, DATAGRAMS as u64);
    assert_eq!(real.rx.packets, DATAGRAMS as u64);

    let query = FlowQuery::new()
        .ip(ends.client.ip())
        .port(ends.client.port());
    // Settled: the same counts over two flushes.
    let flow = eventually(Duration::from_secs(15), "the sampled flow settles", || {
        let first = node.agent.flows(&query).pop().ok_or("no flow yet")?;
        std::thread::sleep(Duration::from_millis(2_500));
        let second = node.agent.flows(&query).pop().ok_or("flow gone")?;
        if first.counts() == second.counts() && second.tx_packets > 0 {
            Ok(second)
        } else {
            Err(format!("{:?} then {:?}", first.counts(), second.counts()))
        }
    });
    assert_eq!(flow.other["sampling_rate"], RATE);
    println!(
        "sampled 1/{RATE}: tx {} rx {} packets estimated for {DATAGRAMS} each way",
        flow.tx_packets, flow.rx_packets
    );

    // 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + payload, both ways.
    let frame = (14 + 20 + 8 + PAYLOAD) as u64;
    // Binomial: sd of the estimate = N * sqrt(n p (1 - p)) = 300 here; 5 sd
    // would be exceeded by chance about once in 1.7 million runs.
    let sd =
        RATE as f64 * (DATAGRAMS as f64 * (1.0 / RATE as f64) * (1.0 - 1.0 / RATE as f64)).sqrt();
    for (direction, packets, bytes) in [
        ("tx", flow.tx_packets, flow.tx_bytes),
        ("rx", flow.rx_packets, flow.rx_bytes),
    ] {
        assert_eq!(
            packets % RATE,
            0,
            "{direction}: every sampled packet counts {RATE} times"
        );
        assert_eq!(
            bytes,
            packets * frame,
            "{direction}: bytes are scaled with the packets"
        );
        let error = (packets as f64 - DATAGRAMS as f64).abs();
        assert!(
            error <= 5.0 * sd,
            "{direction}: estimate {packets} is {error} from {DATAGRAMS}, over 5 sd ({sd})"
        );
    }
    // Interfaces are never sampled: still exactly the links' counters.
    node.assert_interface_metrics_match_links_since(&links_when_ready);
}
