//! Lists the links and addresses of a network namespace built by the test,
//! through real rtnetlink. Needs root; everything happens inside a named
//! namespace that is deleted afterwards, so the host's own is never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use netmon_agent::source::links::{
    list_links, list_local_addresses, select_interfaces, InterfaceSelection, Link,
};

/// A named network namespace (`ip netns add`), deleted on drop so that a
/// failing assertion does not leave it behind.
struct TestNetns {
    name: String,
}

impl TestNetns {
    fn create() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let name = format!("nm-links-{}-{nanos}", std::process::id());
        run("ip", &["netns", "add", &name]).expect("ip netns add");
        TestNetns { name }
    }

    /// Runs `ip -n <netns> <args>`; `ip` is a separate process, so it has to
    /// be pointed at the namespace explicitly.
    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `f` on a fresh thread moved into the namespace: setns() only
    /// affects the calling thread, so the test harness's threads stay put.
    fn inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let netns = File::open(&path).expect("open the netns file");
                    // SAFETY: plain syscall on a descriptor we own; it only
                    // changes this thread's network namespace.
                    let result = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(result, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        if let Err(error) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("could not delete test netns {}: {error}", self.name);
        }
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program} {args:?}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Whether to run: root is needed to create namespaces. Without it the test
/// is skipped, unless NMTEST_REQUIRE_ROOT=1 demands that it runs.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("NMTEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("NMTEST_REQUIRE_ROOT=1 but the test is not running as root");
    }
    eprintln!("skipping: creating network namespaces needs root");
    false
}

/// Adds the first device kind the kernel supports, returning its name and
/// kind: minimal kernels lack drivers like 8021q or dummy, and the substitute
/// (macvlan for vlan, ifb for dummy) exercises the same netlink attributes.
fn add_first_supported(
    netns: &TestNetns,
    candidates: &[(&'static str, &[&'static str])],
) -> (&'static str, &'static str) {
    let mut failures = Vec::new();
    for &(name, args) in candidates {
        match netns.ip(args) {
            Ok(()) => {
                let kind = args[args.iter().position(|&arg| arg == "type").unwrap() + 1];
                if !failures.is_empty() {
                    eprintln!("using a {kind} device instead: {failures:?}");
                }
                return (name, kind);
            }
            // Only a missing driver is worth a substitute; anything else is
            // a real failure that a different kind would merely hide.
            Err(error) if error.contains("Unknown device type") => failures.push(error),
            Err(error) => panic!("{error}"),
        }
    }
    panic!("no candidate device could be created: {failures:?}");
}

#[test]
fn links_and_addresses_of_the_calling_threads_namespace_are_listed_with_their_relations() {
    if !running_as_root() {
        return;
    }
    let netns = TestNetns::create();
    let ip = |args: &[&str]| netns.ip(args).unwrap_or_else(|error| panic!("{error}"));

    ip(&[
        "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
    ]);
    ip(&["link", "add", "br0", "type", "bridge"]);
    ip(&["link", "set", "veth-a", "master", "br0"]);
    let (stacked, stacked_kind) = add_first_supported(
        &netns,
        &[
            (
                "veth-b.100",
                &[
                    "link",
                    "add",
                    "link",
                    "veth-b",
                    "name",
                    "veth-b.100",
                    "type",
                    "vlan",
                    "id",
                    "100",
                ],
            ),
            (
                "veth-b.mv",
                &[
                    "link",
                    "add",
                    "link",
                    "veth-b",
                    "name",
                    "veth-b.mv",
                    "type",
                    "macvlan",
                ],
            ),
        ],
    );
    let (_, carrier_kind) = add_first_supported(
        &netns,
        &[
            ("addr0", &["link", "add", "addr0", "type", "dummy"]),
            ("addr0", &["link", "add", "addr0", "type", "ifb"]),
        ],
    );
    for up in ["lo", "veth-a", "veth-b", "br0", "addr0"] {
        ip(&["link", "set", up, "up"]);
    }
    ip(&["address", "add", "192.0.2.1/24", "dev", "addr0"]);
    // nodad: a tentative address would still be listed, but skipping duplicate
    // address detection keeps the namespace's state settled.
    ip(&["address", "add", "2001:db8::1/64", "dev", "addr0", "nodad"]);

    let (links, addresses) = netns.inside(|| {
        (
            list_links().expect("list_links"),
            list_local_addresses().expect("list_local_addresses"),
        )
    });

    let by_name: BTreeMap<&str, &Link> = links
        .iter()
        .map(|link| (link.name.as_str(), link))
        .collect();
    let index = |name: &str| {
        by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} in {links:?}"))
            .index
    };
    let expected =
        |name: &str, kind: Option<&str>, master: Option<&str>, lower: Option<&str>, is_up: bool| {
            Link {
                index: index(name),
                name: name.to_owned(),
                kind: kind.map(str::to_owned),
                master: master.map(index),
                lower: lower.map(index),
                is_loopback: name == "lo",
                is_up,
            }
        };
    // A veth pair inside one namespace reports each end as the other's link.
    let mut wanted = vec![
        expected("lo", None, None, None, true),
        expected("veth-a", Some("veth"), Some("br0"), Some("veth-b"), true),
        expected("veth-b", Some("veth"), None, Some("veth-a"), true),
        expected("br0", Some("bridge"), None, None, true),
        expected(stacked, Some(stacked_kind), None, Some("veth-b"), false),
        expected("addr0", Some(carrier_kind), None, None, true),
    ];
    wanted.sort_by_key(|link| link.index);
    assert_eq!(links, wanted);

    let addresses: BTreeSet<IpAddr> = addresses.into_iter().collect();
    let expected_addresses: BTreeSet<IpAddr> = ["127.0.0.1", "::1", "192.0.2.1", "2001:db8::1"]
        .iter()
        .map(|address| address.parse().unwrap())
        .collect();
    let is_ipv6_link_local =
        |address: &IpAddr| matches!(address, IpAddr::V6(v6) if v6.is_unicast_link_local());
    // Interfaces that are up also get kernel-generated IPv6 link-local
    // addresses, whose values depend on random MAC addresses.
    let configured: BTreeSet<IpAddr> = addresses
        .iter()
        .copied()
        .filter(|address| !is_ipv6_link_local(address))
        .collect();
    assert_eq!(configured, expected_addresses);

    let accounted: BTreeMap<String, bool> =
        select_interfaces(&links, &InterfaceSelection::default())
            .into_iter()
            .map(|interface| (interface.name, interface.account_flows))
            .collect();
    let expected_accounting: BTreeMap<String, bool> = [
        ("veth-a", true),
        ("veth-b", true),
        ("br0", false),
        (stacked, false),
        ("addr0", true),
    ]
    .into_iter()
    .map(|(name, account)| (name.to_owned(), account))
    .collect();
    assert_eq!(accounted, expected_accounting);
}
