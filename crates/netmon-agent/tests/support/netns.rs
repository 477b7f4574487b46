//! Network namespaces and the node/pod veth topology, removed on drop (also
//! when a test panics, since drops run during unwinding).
//!
//! The topology is built so that the links carry nothing but the test's own
//! packets: neighbours are static (no ARP/ND), IPv6 duplicate address
//! detection and router solicitation are off before any link goes up, and a
//! small nftables table drops the MLD reports the kernel would otherwise send
//! when interfaces join multicast groups. That is what allows the links' own
//! counters, and the agent's per-interface counters, to be compared with the
//! traffic a test made.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::Once;

use super::in_netns::in_netns;
use super::{run, run_with_stdin, try_run, unique_tag, UniqueTag};

/// Prefix of every namespace the harness creates; followed by the pid of the
/// test process that owns it.
pub const NAMESPACE_PREFIX: &str = "nmt";

/// Interface name of every pod's end of its veth pair, as in Kubernetes.
pub const POD_INTERFACE: &str = "eth0";

/// A named network namespace (`ip netns add`), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn create(name: String) -> Netns {
        run(Command::new("ip").args(["netns", "add", &name]));
        Netns { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> <args>`; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// Runs `program args` inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        run(&mut self.exec_command(program, args))
    }

    /// Like [`Netns::exec`], feeding `stdin` to the program.
    pub fn exec_with_stdin(&self, program: &str, args: &[&str], stdin: &str) -> String {
        run_with_stdin(&mut self.exec_command(program, args), Some(stdin))
    }

    fn exec_command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, program])
            .args(args);
        command
    }

    /// Writes a sysctl of this namespace, e.g. `net.ipv4.ip_forward`.
    pub fn set_sysctl(&self, key: &str, value: &str) {
        let path = sysctl_path(key);
        in_netns(&self.name, || {
            std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {path}: {e}"))
        });
    }

    pub fn sysctl(&self, key: &str) -> String {
        let path = sysctl_path(key);
        in_netns(&self.name, || {
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {path}: {e}"))
                .trim()
                .to_string()
        })
    }

    /// The kernel's own counters of an interface in this namespace.
    pub fn link_counters(&self, interface: &str) -> LinkCounters {
        let json = self.ip(&["-s", "-j", "link", "show", "dev", interface]);
        let parsed: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("parse `ip -s -j link show` output {json:?}: {e}"));
        let stats = &parsed[0]["stats64"];
        let field = |direction: &str, name: &str| {
            stats[direction][name].as_u64().unwrap_or_else(|| {
                panic!("no stats64.{direction}.{name} for {interface} in {json}")
            })
        };
        LinkCounters {
            rx_bytes: field("rx", "bytes"),
            rx_packets: field("rx", "packets"),
            tx_bytes: field("tx", "bytes"),
            tx_packets: field("tx", "packets"),
        }
    }

    /// A counter of `/proc/net/snmp` as this namespace sees it, e.g.
    /// `("Tcp", "OutSegs")`.
    pub fn snmp_counter(&self, group: &str, name: &str) -> u64 {
        // /proc/net is /proc/self/net, which follows the process's main
        // thread; thread-self follows the thread that entered the namespace.
        let snmp = in_netns(&self.name, || {
            std::fs::read_to_string("/proc/thread-self/net/snmp").expect("read snmp")
        });
        parse_snmp(&snmp, group, name)
            .unwrap_or_else(|| panic!("no {group}:{name} in /proc/net/snmp:\n{snmp}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(error) = try_run(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("cleanup: {error}");
        }
    }
}

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// Finds `name` in the `group` of `/proc/net/snmp`, whose groups are pairs
/// of lines: field names, then values.
pub fn parse_snmp(snmp: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = snmp.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let index = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

/// Interface counters as the kernel keeps them (`ip -s link`). On a veth,
/// bytes are `skb->len` at transmit, Ethernet header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

impl LinkCounters {
    /// Counters accumulated since `earlier`.
    pub fn since(&self, earlier: &LinkCounters) -> LinkCounters {
        LinkCounters {
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            rx_packets: self.rx_packets - earlier.rx_packets,
            tx_bytes: self.tx_bytes - earlier.tx_bytes,
            tx_packets: self.tx_packets - earlier.tx_packets,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// Whether the test veths keep segmentation offloads. `Off` makes every skb
/// a wire-sized packet, so packet counts of nftables, links and the agent
/// agree; `On` exercises the agent's handling of GSO super-packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offloads {
    Off,
    On,
}

/// One pod: its namespace and the veth pair to the node.
#[derive(Debug)]
pub struct Pod {
    pub name: String,
    pub ns: Netns,
    /// The node's end of the pod's veth pair (named uniquely per run, since
    /// agent metrics are labelled with it).
    pub node_interface: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    /// The node's addresses on this pod's link; the pod's default routes.
    pub gateway_ipv4: Ipv4Addr,
    pub gateway_ipv6: Ipv6Addr,
}

impl Pod {
    pub fn ip(&self, version: IpVersion) -> IpAddr {
        match version {
            IpVersion::V4 => IpAddr::V4(self.ipv4),
            IpVersion::V6 => IpAddr::V6(self.ipv6),
        }
    }

    pub fn ns_name(&self) -> &str {
        self.ns.name()
    }
}

/// The node namespace and its pods.
pub struct Topology {
    // Declared before `node` so pods (and with them the veth pairs) are
    // deleted first, then the node.
    pods: Vec<Pod>,
    node: Netns,
    tag: UniqueTag,
    offloads: Offloads,
}

impl Topology {
    /// Builds the node namespace and one pod per name (names are short,
    /// e.g. "a", since they become part of interface names).
    pub fn build(pod_names: &[&str], offloads: Offloads) -> Topology {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(delete_namespaces_of_dead_test_runs);

        let tag = unique_tag();
        let node = Netns::create(format!("{NAMESPACE_PREFIX}{tag}-node"));
        // From here on a panic drops `topology`, which deletes what exists.
        let mut topology = Topology {
            pods: Vec::new(),
            node,
            tag,
            offloads,
        };
        prepare_namespace(&topology.node);
        topology.node.set_sysctl("net.ipv4.ip_forward", "1");
        topology
            .node
            .set_sysctl("net.ipv6.conf.all.forwarding", "1");
        for name in pod_names {
            topology.add_pod(name);
        }
        topology
    }

    pub fn node(&self) -> &Netns {
        &self.node
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name:?} in this topology"))
    }

    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// Names of all namespaces of this topology.
    pub fn namespace_names(&self) -> Vec<String> {
        std::iter::once(self.node.name().to_string())
            .chain(self.pods.iter().map(|p| p.ns.name().to_string()))
            .collect()
    }

    /// Adds a pod: namespace, veth pair to the node, addresses, static
    /// neighbours and default routes. Usable after the agent started, to
    /// check that new interfaces are picked up.
    pub fn add_pod(&mut self, name: &str) -> &Pod {
        assert!(
            self.pods.iter().all(|p| p.name != name),
            "pod {name:?} exists already"
        );
        let index = u8::try_from(self.pods.len()).expect("fewer than 256 pods");
        assert!(index < 16, "the address plan has room for 16 pods");
        let plan = AddressPlan::new(self.tag, index);

        let ns = Netns::create(format!("{NAMESPACE_PREFIX}{}-pod-{name}", self.tag));
        let node_interface = format!(
            "v{name}{:x}{:04x}",
            self.tag.pid,
            (self.tag.random >> 16) & 0xffff
        );
        assert!(
            node_interface.len() <= 15,
            "interface name {node_interface} is longer than IFNAMSIZ allows"
        );
        let pod = Pod {
            name: name.to_string(),
            ns,
            node_interface,
            ipv4: plan.pod_ipv4,
            ipv6: plan.pod_ipv6,
            gateway_ipv4: plan.node_ipv4,
            gateway_ipv6: plan.node_ipv6,
        };
        // Owned by the topology before any further step, so a failing step
        // still deletes the namespace.
        self.pods.push(pod);
        let pod = self.pods.last().expect("just pushed");
        let node = &self.node;
        prepare_namespace(&pod.ns);

        let node_if = pod.node_interface.as_str();
        // Created inside the node namespace with the peer directly in the
        // pod's, so the names never exist in (or collide in) the host's.
        node.ip(&[
            "link",
            "add",
            node_if,
            "address",
            &plan.node_mac,
            "type",
            "veth",
            "peer",
            "name",
            POD_INTERFACE,
            "address",
            &plan.pod_mac,
            "netns",
            pod.ns.name(),
        ]);
        let features: &[&str] = match self.offloads {
            Offloads::Off => &["tso", "off", "gso", "off", "gro", "off"],
            Offloads::On => &["tso", "on", "gso", "on"],
        };
        for (ns, interface) in [(node, node_if), (&pod.ns, POD_INTERFACE)] {
            let mut args = vec!["-K", interface];
            args.extend_from_slice(features);
            ns.exec("ethtool", &args);
        }

        let node_v4 = format!("{}/28", plan.node_ipv4);
        let node_v6 = format!("{}/64", plan.node_ipv6);
        let pod_v4 = format!("{}/28", plan.pod_ipv4);
        let pod_v6 = format!("{}/64", plan.pod_ipv6);
        node.ip(&["addr", "add", &node_v4, "dev", node_if]);
        node.ip(&["addr", "add", &node_v6, "dev", node_if, "nodad"]);
        pod.ns.ip(&["addr", "add", &pod_v4, "dev", POD_INTERFACE]);
        pod.ns
            .ip(&["addr", "add", &pod_v6, "dev", POD_INTERFACE, "nodad"]);
        node.ip(&["link", "set", node_if, "up"]);
        pod.ns.ip(&["link", "set", POD_INTERFACE, "up"]);

        for (ns, interface, address, mac) in [
            (node, node_if, plan.pod_ipv4.to_string(), &plan.pod_mac),
            (node, node_if, plan.pod_ipv6.to_string(), &plan.pod_mac),
            (
                &pod.ns,
                POD_INTERFACE,
                plan.node_ipv4.to_string(),
                &plan.node_mac,
            ),
            (
                &pod.ns,
                POD_INTERFACE,
                plan.node_ipv6.to_string(),
                &plan.node_mac,
            ),
        ] {
            ns.ip(&[
                "neigh",
                "replace",
                &address,
                "lladdr",
                mac,
                "dev",
                interface,
                "nud",
                "permanent",
            ]);
        }
        let gateway_v4 = plan.node_ipv4.to_string();
        let gateway_v6 = plan.node_ipv6.to_string();
        pod.ns.ip(&[
            "route",
            "add",
            "default",
            "via",
            &gateway_v4,
            "dev",
            POD_INTERFACE,
        ]);
        pod.ns.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &gateway_v6,
            "dev",
            POD_INTERFACE,
        ]);
        pod
    }
}

/// Settings every namespace needs before its links exist: the `default`
/// and `all` sysctls apply to interfaces created later.
fn prepare_namespace(ns: &Netns) {
    for scope in ["all", "default"] {
        ns.set_sysctl(&format!("net.ipv6.conf.{scope}.accept_dad"), "0");
        ns.set_sysctl(&format!("net.ipv6.conf.{scope}.router_solicitations"), "0");
    }
    // Locally generated MLD reports and router solicitations pass the output
    // hook on their way to the device, so dropping them there keeps them off
    // the links entirely.
    ns.exec_with_stdin(
        "nft",
        &["-f", "-"],
        "table inet netmon_quiet {
            chain output {
                type filter hook output priority 0; policy accept;
                icmpv6 type { nd-router-solicit, mld-listener-report, mld-listener-done, mld2-listener-report } drop
            }
        }",
    );
    ns.ip(&["link", "set", "lo", "up"]);
}

/// Addresses of one pod link, derived from the topology's tag so concurrent
/// topologies use different subnets (in 10.0.0.0/8 and fd00::/8). Their
/// namespaces keep the packets apart, but every agent on the machine sees
/// the kernel's TCP socket events of all namespaces, which only addresses
/// tell apart.
struct AddressPlan {
    node_ipv4: Ipv4Addr,
    pod_ipv4: Ipv4Addr,
    node_ipv6: Ipv6Addr,
    pod_ipv6: Ipv6Addr,
    node_mac: String,
    pod_mac: String,
}

impl AddressPlan {
    fn new(tag: UniqueTag, index: u8) -> AddressPlan {
        let r = tag.random.to_be_bytes();
        // One /24 per topology, one /28 per pod link. The third octet
        // follows the per-process counter, so topologies of one test
        // process (whose agents all see the kernel's global TCP events)
        // never share a subnet; across processes the random octet decides.
        let third = (tag.counter & 0xff) as u8;
        let base = 16 * index;
        let node_ipv4 = Ipv4Addr::new(10, r[0], third, base + 1);
        let pod_ipv4 = Ipv4Addr::new(10, r[0], third, base + 2);
        // One ULA /48 per topology, one /64 per pod link.
        let word = |hi: u8, lo: u8| u16::from(hi) << 8 | u16::from(lo);
        let v6 = |host| {
            Ipv6Addr::new(
                0xfd00 | u16::from(r[2]),
                word(r[3], r[4]),
                word(r[5], r[6]),
                u16::from(index),
                0,
                0,
                0,
                host,
            )
        };
        // Locally administered unicast MACs.
        let mac = |end: u8| {
            format!(
                "02:{:02x}:{:02x}:{:02x}:{index:02x}:{end:02x}",
                r[0], r[1], r[7]
            )
        };
        AddressPlan {
            node_ipv4,
            pod_ipv4,
            node_ipv6: v6(1),
            pod_ipv6: v6(2),
            node_mac: mac(1),
            pod_mac: mac(2),
        }
    }
}

/// Deletes namespaces left by test processes that no longer exist (a run
/// killed before its drops ran). Namespaces of live processes, including
/// concurrent runs, are left alone.
fn delete_namespaces_of_dead_test_runs() {
    let Ok(list) = try_run(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name
            .strip_prefix(NAMESPACE_PREFIX)
            .and_then(|rest| rest.split('x').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            if let Err(error) = try_run(Command::new("ip").args(["netns", "del", name])) {
                eprintln!("cleanup of stale namespace: {error}");
            }
        }
    }
}

/// Names of all namespaces that currently exist (`ip netns list`).
pub fn existing_namespaces() -> Vec<String> {
    run(Command::new("ip").args(["netns", "list"]))
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}
