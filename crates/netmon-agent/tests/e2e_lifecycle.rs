//! End-to-end: the agent's life cycle — health endpoints, and a SIGTERM
//! that detaches everything it attached and exits 0.
//!
//! This file holds a single test so no other agent of this test binary
//! starts while it compares the machine's eBPF objects before and after.

mod support;

use std::time::Duration;

use support::agent::{Agent, AgentConfig};
use support::bpf::{tc_programs_in, BpfObjects, PROGRAM_PREFIX};
use support::netns::{Offloads, Topology};
use support::{eventually, missing_prerequisites, TOPOLOGY_TOOLS};

#[test]
fn on_sigterm_the_agent_detaches_its_programs_and_exits_zero() {
    let tools: Vec<&str> = TOPOLOGY_TOOLS.iter().copied().chain(["bpftool"]).collect();
    if missing_prerequisites(&tools) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let before = BpfObjects::snapshot();

    let agent = Agent::start(topology.node(), AgentConfig::default());
    assert_eq!(
        agent.get_metrics_listener("/healthz").status,
        200,
        "healthy"
    );
    assert_eq!(agent.get_metrics_listener("/readyz").status, 200, "ready");
    let loaded_with_agent = BpfObjects::snapshot().added_since(&before);
    assert!(
        !loaded_with_agent.programs.is_empty(),
        "the agent loaded netmon_* programs"
    );

    agent.stop_and_expect_clean_exit();

    eventually(
        Duration::from_secs(5),
        "the agent's programs and links are gone",
        || {
            let leaked = BpfObjects::leaked_from(&loaded_with_agent);
            if leaked.is_empty() {
                Ok(())
            } else {
                Err(format!("still present and held by no process: {leaked:?}"))
            }
        },
    );
    let attached: Vec<_> = tc_programs_in(topology.node())
        .into_iter()
        .filter(|(_, name)| name.starts_with(PROGRAM_PREFIX))
        .collect();
    assert!(
        attached.is_empty(),
        "no netmon program stays attached to a node interface: {attached:?}"
    );
}
