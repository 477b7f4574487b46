//! Interface inventory of the calling thread's network namespace, and the
//! choice of which interfaces the eBPF programs attach to and account.
//!
//! The inventory is read over rtnetlink rather than from `/sys/class/net`:
//! sysfs shows the network namespace of whoever mounted it, which for a
//! containerised agent is often not the namespace the agent thread is in.
//! A netlink socket always belongs to the namespace of the thread that
//! created it, so callers can `setns()` a thread and list that namespace.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTIPART,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

/// Errors of the rtnetlink queries.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot open a NETLINK_ROUTE socket: {0}")]
    Socket(#[source] io::Error),
    #[error("cannot send the {request} request: {source}")]
    Send {
        request: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot receive the {request} reply: {source}")]
    Receive {
        request: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the kernel rejected the {request} request: {source}")]
    Kernel {
        request: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("malformed {request} reply: {reason}")]
    Malformed {
        request: &'static str,
        reason: String,
    },
    #[error("the {request} dump was interrupted by concurrent changes {attempts} times in a row")]
    DumpInterrupted {
        request: &'static str,
        attempts: u32,
    },
}

/// One network device of the namespace, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND` ("veth", "bridge", "bond", "vlan", "macvlan", ...);
    /// `None` for devices without rtnl link ops, e.g. physical NICs and `lo`.
    pub kind: Option<String>,
    /// `IFLA_MASTER`: the bridge, bond, team or vrf this device is a port of.
    pub master: Option<u32>,
    /// `IFLA_LINK` when it names another device of the same namespace (no
    /// `IFLA_LINK_NETNSID`, different from `index`). This is the kernel's raw
    /// relation: for vlan/macvlan/ipvlan it is the device they sit on, but for
    /// a veth it is the peer and for a tunnel the underlay, see
    /// [`select_interfaces`] for how the two are told apart.
    pub lower: Option<u32>,
    /// `IFF_LOOPBACK`.
    pub is_loopback: bool,
    /// `IFF_UP`, the administrative state: operational state is not used
    /// because `lo` and many virtual devices report it as "unknown".
    pub is_up: bool,
}

/// Lists every device of the calling thread's network namespace
/// (`RTM_GETLINK` dump), in the kernel's order (ascending index).
pub fn list_links() -> Result<Vec<Link>, LinkError> {
    const REQUEST: &str = "RTM_GETLINK";
    let replies = dump(REQUEST, || {
        RouteNetlinkMessage::GetLink(LinkMessage::default())
    })?;
    let mut links = Vec::with_capacity(replies.len());
    for reply in replies {
        match reply {
            RouteNetlinkMessage::NewLink(message) => links.push(link_from_message(&message)?),
            other => tracing::debug!(
                message_type = other.message_type(),
                "ignoring unexpected message in the RTM_GETLINK dump"
            ),
        }
    }
    Ok(links)
}

/// Lists the IPv4 and IPv6 addresses configured on any device of the calling
/// thread's network namespace, loopback included (`RTM_GETADDR` dump). Each
/// address appears once even when several devices carry it.
pub fn list_local_addresses() -> Result<Vec<IpAddr>, LinkError> {
    const REQUEST: &str = "RTM_GETADDR";
    // AF_UNSPEC (the default family) asks for every address family at once.
    let replies = dump(REQUEST, || {
        RouteNetlinkMessage::GetAddress(AddressMessage::default())
    })?;
    let mut seen = HashSet::new();
    let mut addresses = Vec::new();
    for reply in replies {
        match reply {
            RouteNetlinkMessage::NewAddress(message) => {
                if let Some(address) = address_from_message(&message) {
                    if seen.insert(address) {
                        addresses.push(address);
                    }
                }
            }
            other => tracing::debug!(
                message_type = other.message_type(),
                "ignoring unexpected message in the RTM_GETADDR dump"
            ),
        }
    }
    Ok(addresses)
}

fn link_from_message(message: &LinkMessage) -> Result<Link, LinkError> {
    let index = message.header.index;
    let mut name = None;
    let mut kind = None;
    let mut master = None;
    let mut iflink = None;
    let mut iflink_in_other_netns = false;
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(value) => name = Some(value.clone()),
            LinkAttribute::LinkInfo(infos) => {
                kind = infos.iter().find_map(|info| match info {
                    LinkInfo::Kind(kind) => Some(kind.to_string()),
                    _ => None,
                });
            }
            LinkAttribute::Controller(value) => master = Some(*value),
            LinkAttribute::Link(value) => iflink = Some(*value),
            LinkAttribute::LinkNetNsId(_) => iflink_in_other_netns = true,
            _ => {}
        }
    }
    let name = name.ok_or_else(|| LinkError::Malformed {
        request: "RTM_GETLINK",
        reason: format!("link {index} has no IFLA_IFNAME"),
    })?;
    // With IFLA_LINK_NETNSID present, IFLA_LINK is an index in another
    // namespace (e.g. the pod end of a veth) and must not be looked up here.
    let lower = iflink.filter(|&link| !iflink_in_other_netns && link != 0 && link != index);
    Ok(Link {
        index,
        name,
        kind,
        master: master.filter(|&master| master != 0),
        lower,
        is_loopback: message.header.flags.contains(LinkFlags::Loopback),
        is_up: message.header.flags.contains(LinkFlags::Up),
    })
}

fn address_from_message(message: &AddressMessage) -> Option<IpAddr> {
    // On IPv4 point-to-point devices IFA_ADDRESS is the peer and IFA_LOCAL
    // ours; elsewhere (and always for IPv6) IFA_ADDRESS is ours.
    let mut address = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(local) => return Some(*local),
            AddressAttribute::Address(value) => address = Some(*value),
            _ => {}
        }
    }
    address
}

/// How many times a dump that the kernel flags as inconsistent is restarted
/// before giving up: an interruption needs a change between two datagrams of
/// the same dump, so repeated ones mean the namespace is being churned hard.
const MAX_DUMP_ATTEMPTS: u32 = 5;

/// Large enough for a typical dump datagram in one read; a bigger datagram
/// grows the buffer (see `receive_datagram`) instead of being truncated.
const INITIAL_RECEIVE_BUFFER: usize = 32 * 1024;

static NEXT_SEQUENCE: AtomicU32 = AtomicU32::new(1);

fn dump(
    request_name: &'static str,
    request: impl Fn() -> RouteNetlinkMessage,
) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
    // The socket joins the namespace of the thread that creates it, which is
    // what makes these queries follow the caller's setns().
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(LinkError::Socket)?;
    let local = socket.bind_auto().map_err(LinkError::Socket)?;
    // Connecting to the kernel (port 0) makes it drop datagrams that other
    // sockets might unicast to our port.
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(LinkError::Socket)?;
    let mut datagram = Vec::with_capacity(INITIAL_RECEIVE_BUFFER);
    for _ in 0..MAX_DUMP_ATTEMPTS {
        let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let mut message = NetlinkMessage::from(request());
        message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        message.header.sequence_number = sequence;
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        send(&socket, &bytes, request_name)?;

        let mut reader = DumpReader::new(request_name, sequence, local.port_number());
        while reader.progress == DumpProgress::Reading {
            receive_datagram(&socket, &mut datagram, request_name)?;
            reader.feed(&datagram)?;
        }
        if reader.progress == DumpProgress::Complete {
            return Ok(reader.messages);
        }
        tracing::debug!(
            request = request_name,
            "dump interrupted by a concurrent change, restarting"
        );
    }
    Err(LinkError::DumpInterrupted {
        request: request_name,
        attempts: MAX_DUMP_ATTEMPTS,
    })
}

fn send(socket: &Socket, bytes: &[u8], request: &'static str) -> Result<(), LinkError> {
    loop {
        match socket.send(bytes, 0) {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(LinkError::Send { request, source }),
        }
    }
}

/// Reads exactly one datagram into `buffer`, growing it when the datagram is
/// bigger than its capacity: netlink truncates silently otherwise, and one
/// link message with many attributes can exceed any fixed size.
fn receive_datagram(
    socket: &Socket,
    buffer: &mut Vec<u8>,
    request: &'static str,
) -> Result<(), LinkError> {
    let receive_error = |source| LinkError::Receive { request, source };
    // MSG_PEEK | MSG_TRUNC reports the full datagram size without consuming it.
    let size = loop {
        buffer.clear();
        match socket.recv(buffer, libc::MSG_PEEK | libc::MSG_TRUNC) {
            Ok(size) => break size,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(receive_error(error)),
        }
    };
    buffer.clear();
    buffer.reserve(size);
    loop {
        match socket.recv(buffer, libc::MSG_TRUNC) {
            Ok(received) if received > buffer.len() => {
                return Err(LinkError::Malformed {
                    request,
                    reason: format!(
                        "datagram of {received} bytes truncated to {} bytes",
                        buffer.len()
                    ),
                })
            }
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => buffer.clear(),
            Err(error) => return Err(receive_error(error)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DumpProgress {
    Reading,
    Complete,
    /// The kernel saw the table change while dumping (`NLM_F_DUMP_INTR`), so
    /// the replies may miss or repeat entries and the dump must be redone.
    Interrupted,
}

/// Collects the replies of one dump request, datagram by datagram, until
/// `NLMSG_DONE` (a dump spans as many `NLM_F_MULTI` datagrams as needed).
struct DumpReader {
    request: &'static str,
    sequence: u32,
    port: u32,
    interrupted: bool,
    progress: DumpProgress,
    messages: Vec<RouteNetlinkMessage>,
}

impl DumpReader {
    fn new(request: &'static str, sequence: u32, port: u32) -> Self {
        DumpReader {
            request,
            sequence,
            port,
            interrupted: false,
            progress: DumpProgress::Reading,
            messages: Vec::new(),
        }
    }

    fn malformed(&self, reason: String) -> LinkError {
        LinkError::Malformed {
            request: self.request,
            reason,
        }
    }

    fn feed(&mut self, datagram: &[u8]) -> Result<(), LinkError> {
        let mut rest = datagram;
        while !rest.is_empty() && self.progress == DumpProgress::Reading {
            let buffer = NetlinkBuffer::new_checked(rest)
                .map_err(|error| self.malformed(error.to_string()))?;
            let length = buffer.length() as usize;
            let (sequence, port, flags) = (
                buffer.sequence_number(),
                buffer.port_number(),
                buffer.flags(),
            );
            let bytes = &rest[..length];
            // Messages inside a datagram start on 4-byte (NLMSG_ALIGNTO)
            // boundaries; the last one may omit its padding.
            rest = &rest[length.next_multiple_of(4).min(rest.len())..];
            if sequence != self.sequence || port != self.port {
                tracing::debug!(
                    request = self.request,
                    sequence,
                    port,
                    "ignoring a netlink message that answers another request"
                );
                continue;
            }
            if flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
                .map_err(|error| self.malformed(error.to_string()))?;
            match message.payload {
                NetlinkPayload::Done(done) if done.code < 0 => {
                    // A dump that fails midway reports its errno in NLMSG_DONE.
                    return Err(self.kernel_error(done.code));
                }
                NetlinkPayload::Done(_) => self.finish(),
                NetlinkPayload::Error(error) => {
                    // A zero code is an acknowledgement: no data, the dump goes on.
                    if let Some(code) = error.code {
                        return Err(self.kernel_error(code.get()));
                    }
                }
                NetlinkPayload::InnerMessage(inner) => {
                    self.messages.push(inner);
                    // Only a multi-part reply is terminated by NLMSG_DONE.
                    if flags & NLM_F_MULTIPART == 0 {
                        self.finish();
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    return Err(self.malformed("the kernel reported an overrun".to_owned()))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.progress = if self.interrupted {
            DumpProgress::Interrupted
        } else {
            DumpProgress::Complete
        };
    }

    fn kernel_error(&self, code: i32) -> LinkError {
        LinkError::Kernel {
            request: self.request,
            source: io::Error::from_raw_os_error(code.saturating_abs()),
        }
    }
}

/// Which interfaces to monitor, from the agent configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceSelection {
    /// Names to monitor; empty means every non-loopback interface. A trailing
    /// `*` makes an entry a prefix; only an exact name selects a loopback
    /// device, so `*` alone does not drag `lo` in.
    pub include: Vec<String>,
    /// Names never to monitor, with the same trailing-`*` prefix syntax.
    /// An exclude wins over any include.
    pub exclude: Vec<String>,
}

/// An interface the eBPF programs attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedInterface {
    pub index: u32,
    pub name: String,
    /// Whether packets seen here are counted into flows. They are always
    /// counted in the per-interface counters.
    pub account_flows: bool,
}

/// Kinds whose `IFLA_LINK` names the device they are stacked on and whose
/// packets that device also carries with the same IP header: the frame of
/// vlan `eth0.100` crosses `eth0` tagged, a macvlan/ipvlan frame crosses its
/// parent as is. Other kinds reuse `IFLA_LINK` for different relations: a
/// veth names its peer (the other end of a pipe, not a device below it),
/// and tunnels or macsec name an underlay that carries an encapsulated or
/// encrypted packet, a different flow than the one the upper device sees.
const STACKED_ON_LOWER_KINDS: &[&str] = &["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"];

/// Picks the interfaces to attach to and decides which of them account flows.
///
/// A packet crossing stacked devices is seen by the programs on each of them,
/// so counting it into flows everywhere would count it twice. The device
/// kept is always the lower one, the one the wire-side frame crosses:
///
/// * for a vlan (and macvlan, ipvlan), the physical `eth0` sees the tagged
///   frame at TC ingress first and `eth0.100` sees it again untagged, so
///   `eth0` is accounted and `eth0.100` is not;
/// * for a bridge (and bond, team, vrf), the port (a veth, a NIC) sees the
///   frame first and the master sees it again when it is delivered up to
///   the host stack, so the port is accounted and the master is not.
///
/// In netlink terms the upper device is the one holding the pointer for a
/// vlan (`eth0.100` has `lower = eth0`) but the one pointed at for a bridge
/// (`veth0` has `master = br0`). A selected device accounts flows unless some
/// selected device lies below it, directly or through unselected devices in
/// between (a vlan on a bond on a selected NIC is covered by that NIC). When
/// none of its lower devices is selected, say only the bridge is included,
/// the upper device is the only one that sees those packets and accounts
/// them. Interfaces are returned in the order of `links`.
pub fn select_interfaces(links: &[Link], selection: &InterfaceSelection) -> Vec<SelectedInterface> {
    let selected: HashSet<u32> = links
        .iter()
        .filter(|link| selection.selects(link))
        .map(|link| link.index)
        .collect();
    let stack = Stack::new(links);
    links
        .iter()
        .filter(|link| selected.contains(&link.index))
        .map(|link| SelectedInterface {
            index: link.index,
            name: link.name.clone(),
            account_flows: !stack.has_selected_below(link.index, &selected),
        })
        .collect()
}

impl InterfaceSelection {
    fn selects(&self, link: &Link) -> bool {
        if self
            .exclude
            .iter()
            .any(|pattern| name_matches(pattern, &link.name))
        {
            return false;
        }
        if self.include.is_empty() {
            return !link.is_loopback;
        }
        self.include.iter().any(|pattern| {
            if link.is_loopback {
                *pattern == link.name
            } else {
                name_matches(pattern, &link.name)
            }
        })
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// The "is directly below" relation between the links of one namespace.
struct Stack {
    below: HashMap<u32, Vec<u32>>,
}

impl Stack {
    fn new(links: &[Link]) -> Self {
        let mut below: HashMap<u32, Vec<u32>> = HashMap::new();
        for link in links {
            if let Some(master) = link.master {
                below.entry(master).or_default().push(link.index);
            }
            let stacked = link
                .kind
                .as_deref()
                .is_some_and(|kind| STACKED_ON_LOWER_KINDS.contains(&kind));
            if let (true, Some(lower)) = (stacked, link.lower) {
                below.entry(link.index).or_default().push(lower);
            }
        }
        Stack { below }
    }

    fn has_selected_below(&self, index: u32, selected: &HashSet<u32>) -> bool {
        // Depth-first walk; `visited` also guards against a malformed dump
        // describing a cycle.
        let mut visited = HashSet::from([index]);
        let mut pending: Vec<u32> = self.direct_lowers(index).to_vec();
        while let Some(lower) = pending.pop() {
            if !visited.insert(lower) {
                continue;
            }
            if selected.contains(&lower) {
                return true;
            }
            pending.extend_from_slice(self.direct_lowers(lower));
        }
        false
    }

    fn direct_lowers(&self, index: u32) -> &[u32] {
        self.below.get(&index).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use netlink_packet_core::{DoneMessage, ErrorMessage, NetlinkHeader};
    use netlink_packet_route::link::InfoKind;

    use super::*;

    fn link(index: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            index,
            name: name.to_owned(),
            kind: kind.map(str::to_owned),
            master: None,
            lower: None,
            is_loopback: false,
            is_up: true,
        }
    }

    fn loopback() -> Link {
        Link {
            is_loopback: true,
            ..link(1, "lo", None)
        }
    }

    fn port_of(master: u32, link: Link) -> Link {
        Link {
            master: Some(master),
            ..link
        }
    }

    fn on_top_of(lower: u32, link: Link) -> Link {
        Link {
            lower: Some(lower),
            ..link
        }
    }

    fn names(patterns: &[&str]) -> Vec<String> {
        patterns
            .iter()
            .map(|pattern| (*pattern).to_owned())
            .collect()
    }

    fn all() -> InterfaceSelection {
        InterfaceSelection::default()
    }

    fn include(patterns: &[&str]) -> InterfaceSelection {
        InterfaceSelection {
            include: names(patterns),
            exclude: Vec::new(),
        }
    }

    fn exclude(patterns: &[&str]) -> InterfaceSelection {
        InterfaceSelection {
            include: Vec::new(),
            exclude: names(patterns),
        }
    }

    struct Case {
        scenario: &'static str,
        links: Vec<Link>,
        selection: InterfaceSelection,
        /// (name, account_flows) of every selected interface, in link order.
        expected: &'static [(&'static str, bool)],
    }

    #[test]
    fn selection_accounts_each_packet_on_the_lowest_selected_device() {
        let cases = [
            Case {
                scenario: "routed pod veths whose peers live in pod namespaces are all accounted",
                links: vec![
                    loopback(),
                    link(2, "eth0", None),
                    link(5, "veth1a2b", Some("veth")),
                    link(6, "veth3c4d", Some("veth")),
                ],
                selection: all(),
                expected: &[("eth0", true), ("veth1a2b", true), ("veth3c4d", true)],
            },
            Case {
                scenario: "a veth pair inside one namespace names each other as peers and both are accounted",
                links: vec![
                    on_top_of(4, link(3, "veth-a", Some("veth"))),
                    on_top_of(3, link(4, "veth-b", Some("veth"))),
                ],
                selection: all(),
                expected: &[("veth-a", true), ("veth-b", true)],
            },
            Case {
                scenario: "a bridge with two selected veth ports is not accounted",
                links: vec![
                    link(2, "cni0", Some("bridge")),
                    port_of(2, link(3, "veth1", Some("veth"))),
                    port_of(2, link(4, "veth2", Some("veth"))),
                ],
                selection: all(),
                expected: &[("cni0", false), ("veth1", true), ("veth2", true)],
            },
            Case {
                scenario: "a vlan on a selected eth0 is not accounted",
                links: vec![
                    link(2, "eth0", None),
                    on_top_of(2, link(3, "eth0.100", Some("vlan"))),
                ],
                selection: all(),
                expected: &[("eth0", true), ("eth0.100", false)],
            },
            Case {
                scenario: "a macvlan on a selected eth0 is not accounted",
                links: vec![
                    link(2, "eth0", None),
                    on_top_of(2, link(3, "mv0", Some("macvlan"))),
                ],
                selection: all(),
                expected: &[("eth0", true), ("mv0", false)],
            },
            Case {
                scenario: "a bond with a selected slave is not accounted",
                links: vec![
                    port_of(4, link(2, "eth0", None)),
                    link(3, "eth1", None),
                    link(4, "bond0", Some("bond")),
                ],
                selection: all(),
                expected: &[("eth0", true), ("eth1", true), ("bond0", false)],
            },
            Case {
                scenario: "a vlan on a bond is covered by the bond's selected slave",
                links: vec![
                    port_of(3, link(2, "eth0", None)),
                    link(3, "bond0", Some("bond")),
                    on_top_of(3, link(4, "bond0.7", Some("vlan"))),
                ],
                selection: exclude(&["bond0"]),
                expected: &[("eth0", true), ("bond0.7", false)],
            },
            Case {
                scenario: "a bridge included alone is accounted because none of its ports is selected",
                links: vec![
                    link(2, "cni0", Some("bridge")),
                    port_of(2, link(3, "veth1", Some("veth"))),
                    port_of(2, link(4, "veth2", Some("veth"))),
                ],
                selection: include(&["cni0"]),
                expected: &[("cni0", true)],
            },
            Case {
                scenario: "an exclude wins over an include naming the same interface",
                links: vec![link(2, "eth0", None), link(3, "eth1", None)],
                selection: InterfaceSelection {
                    include: names(&["eth0", "eth1"]),
                    exclude: names(&["eth1"]),
                },
                expected: &[("eth0", true)],
            },
            Case {
                scenario: "an exclude prefix removes every interface it starts",
                links: vec![
                    link(2, "eth0", None),
                    link(3, "veth1", Some("veth")),
                    link(4, "veth2", Some("veth")),
                ],
                selection: exclude(&["veth*"]),
                expected: &[("eth0", true)],
            },
            Case {
                scenario: "excluding every port of a bridge leaves the bridge accounted",
                links: vec![
                    link(2, "cni0", Some("bridge")),
                    port_of(2, link(3, "veth1", Some("veth"))),
                ],
                selection: exclude(&["veth*"]),
                expected: &[("cni0", true)],
            },
            Case {
                scenario: "loopback is skipped when the include list is empty",
                links: vec![loopback(), link(2, "eth0", None)],
                selection: all(),
                expected: &[("eth0", true)],
            },
            Case {
                scenario: "loopback is selected when included by its exact name",
                links: vec![loopback(), link(2, "eth0", None)],
                selection: include(&["lo"]),
                expected: &[("lo", true)],
            },
            Case {
                scenario: "loopback is not selected by a wildcard include",
                links: vec![loopback(), link(2, "eth0", None)],
                selection: include(&["*"]),
                expected: &[("eth0", true)],
            },
            Case {
                scenario: "an included name that does not exist is ignored",
                links: vec![link(2, "eth0", None)],
                selection: include(&["eth0", "eth9"]),
                expected: &[("eth0", true)],
            },
        ];
        for case in cases {
            let selected: Vec<(&str, bool)> = select_interfaces(&case.links, &case.selection)
                .iter()
                .map(|interface| {
                    let name = &case
                        .links
                        .iter()
                        .find(|link| link.index == interface.index)
                        .expect("selected index comes from the links")
                        .name;
                    assert_eq!(*name, interface.name, "{}", case.scenario);
                    (name.as_str(), interface.account_flows)
                })
                .collect();
            assert_eq!(selected, case.expected, "{}", case.scenario);
        }
    }

    fn link_message(index: u32, flags: LinkFlags, attributes: Vec<LinkAttribute>) -> LinkMessage {
        let mut message = LinkMessage::default();
        message.header.index = index;
        message.header.flags = flags;
        message.attributes = attributes;
        message
    }

    #[test]
    fn a_vlan_link_message_yields_its_kind_and_lower_device() {
        let message = link_message(
            7,
            LinkFlags::Up | LinkFlags::Broadcast,
            vec![
                LinkAttribute::IfName("eth0.100".into()),
                LinkAttribute::Link(2),
                LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Vlan)]),
            ],
        );
        assert_eq!(
            link_from_message(&message).unwrap(),
            Link {
                index: 7,
                name: "eth0.100".into(),
                kind: Some("vlan".into()),
                master: None,
                lower: Some(2),
                is_loopback: false,
                is_up: true,
            }
        );
    }

    #[test]
    fn a_bridge_port_message_yields_its_master() {
        let message = link_message(
            3,
            LinkFlags::empty(),
            vec![
                LinkAttribute::IfName("veth1".into()),
                LinkAttribute::Controller(2),
                LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]),
            ],
        );
        let link = link_from_message(&message).unwrap();
        assert_eq!(link.master, Some(2));
        assert!(!link.is_up);
    }

    #[test]
    fn a_peer_in_another_namespace_is_not_a_lower_device() {
        let message = link_message(
            5,
            LinkFlags::Up,
            vec![
                LinkAttribute::IfName("veth1a2b".into()),
                LinkAttribute::Link(3),
                LinkAttribute::LinkNetNsId(1),
            ],
        );
        assert_eq!(link_from_message(&message).unwrap().lower, None);
    }

    #[test]
    fn a_link_pointing_at_itself_has_no_lower_device() {
        let message = link_message(
            4,
            LinkFlags::Up,
            vec![LinkAttribute::IfName("tun0".into()), LinkAttribute::Link(4)],
        );
        assert_eq!(link_from_message(&message).unwrap().lower, None);
    }

    #[test]
    fn loopback_is_recognised_by_its_flag() {
        let message = link_message(
            1,
            LinkFlags::Up | LinkFlags::Loopback,
            vec![LinkAttribute::IfName("lo".into())],
        );
        let link = link_from_message(&message).unwrap();
        assert!(link.is_loopback);
        assert_eq!(link.kind, None);
    }

    #[test]
    fn a_link_without_a_name_is_malformed() {
        let message = link_message(9, LinkFlags::Up, Vec::new());
        assert!(matches!(
            link_from_message(&message),
            Err(LinkError::Malformed { .. })
        ));
    }

    fn address_message(attributes: Vec<AddressAttribute>) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.attributes = attributes;
        message
    }

    #[test]
    fn the_local_address_wins_over_the_point_to_point_peer() {
        let message = address_message(vec![
            AddressAttribute::Address(Ipv4Addr::new(10, 0, 0, 2).into()),
            AddressAttribute::Local(Ipv4Addr::new(10, 0, 0, 1).into()),
        ]);
        assert_eq!(
            address_from_message(&message),
            Some(Ipv4Addr::new(10, 0, 0, 1).into())
        );
    }

    #[test]
    fn an_ipv6_address_comes_from_ifa_address() {
        let message = address_message(vec![AddressAttribute::Address(Ipv6Addr::LOCALHOST.into())]);
        assert_eq!(
            address_from_message(&message),
            Some(Ipv6Addr::LOCALHOST.into())
        );
    }

    const SEQUENCE: u32 = 42;
    const PORT: u32 = 4242;

    fn frame(payload: NetlinkPayload<RouteNetlinkMessage>, flags: u16, sequence: u32) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = sequence;
        header.port_number = PORT;
        let mut message = NetlinkMessage::new(header, payload);
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        // Pad like the kernel does between messages of one datagram.
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    fn new_link(index: u32, name: &str, flags: u16) -> Vec<u8> {
        let message = link_message(
            index,
            LinkFlags::Up,
            vec![LinkAttribute::IfName(name.into())],
        );
        frame(
            RouteNetlinkMessage::NewLink(message).into(),
            flags,
            SEQUENCE,
        )
    }

    fn done(code: i32, flags: u16) -> Vec<u8> {
        let mut message = DoneMessage::default();
        message.code = code;
        frame(NetlinkPayload::Done(message), flags, SEQUENCE)
    }

    fn reader() -> DumpReader {
        DumpReader::new("RTM_GETLINK", SEQUENCE, PORT)
    }

    fn names_of(reader: &DumpReader) -> Vec<String> {
        reader
            .messages
            .iter()
            .map(|message| match message {
                RouteNetlinkMessage::NewLink(link) => link_from_message(link).unwrap().name,
                other => panic!("unexpected message {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_dump_spanning_several_datagrams_is_read_until_done() {
        let mut reader = reader();
        let first = [
            new_link(1, "lo", NLM_F_MULTIPART),
            new_link(2, "eth0", NLM_F_MULTIPART),
        ]
        .concat();
        reader.feed(&first).unwrap();
        assert_eq!(reader.progress, DumpProgress::Reading);
        let second = [
            new_link(3, "eth1", NLM_F_MULTIPART),
            done(0, NLM_F_MULTIPART),
        ]
        .concat();
        reader.feed(&second).unwrap();
        assert_eq!(reader.progress, DumpProgress::Complete);
        assert_eq!(names_of(&reader), ["lo", "eth0", "eth1"]);
    }

    #[test]
    fn a_dump_flagged_as_interrupted_asks_for_a_restart() {
        let mut reader = reader();
        let datagram = [
            new_link(1, "lo", NLM_F_MULTIPART | NLM_F_DUMP_INTR),
            done(0, NLM_F_MULTIPART | NLM_F_DUMP_INTR),
        ]
        .concat();
        reader.feed(&datagram).unwrap();
        assert_eq!(reader.progress, DumpProgress::Interrupted);
    }

    #[test]
    fn an_error_code_in_done_is_reported_as_a_kernel_error() {
        let mut reader = reader();
        let error = reader
            .feed(&done(-libc::EINVAL, NLM_F_MULTIPART))
            .unwrap_err();
        match error {
            LinkError::Kernel { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::EINVAL))
            }
            other => panic!("expected a kernel error, got {other:?}"),
        }
    }

    #[test]
    fn an_error_message_is_reported_as_a_kernel_error() {
        let mut reader = reader();
        let mut error = ErrorMessage::default();
        error.code = std::num::NonZeroI32::new(-libc::EPERM);
        let datagram = frame(NetlinkPayload::Error(error), 0, SEQUENCE);
        match reader.feed(&datagram).unwrap_err() {
            LinkError::Kernel { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::EPERM))
            }
            other => panic!("expected a kernel error, got {other:?}"),
        }
    }

    #[test]
    fn messages_answering_another_request_are_skipped() {
        let mut reader = reader();
        let stale = frame(
            RouteNetlinkMessage::NewLink(link_message(
                9,
                LinkFlags::Up,
                vec![LinkAttribute::IfName("stale".into())],
            ))
            .into(),
            NLM_F_MULTIPART,
            SEQUENCE - 1,
        );
        let datagram = [
            stale,
            new_link(1, "lo", NLM_F_MULTIPART),
            done(0, NLM_F_MULTIPART),
        ]
        .concat();
        reader.feed(&datagram).unwrap();
        assert_eq!(names_of(&reader), ["lo"]);
    }

    #[test]
    fn a_truncated_message_is_malformed() {
        let mut reader = reader();
        let message = new_link(2, "eth0", NLM_F_MULTIPART);
        let error = reader.feed(&message[..message.len() - 8]).unwrap_err();
        assert!(matches!(error, LinkError::Malformed { .. }), "{error:?}");
    }
}
