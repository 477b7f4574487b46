//! The TCP ports netmon listens on: free, held by netmon itself, or held by
//! something else (named by PID from the socket inodes in /proc/*/fd).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener},
};

use crate::doctor::report::Check;

/// The state /proc/net/tcp prints for a listening socket (TCP_LISTEN).
const TCP_LISTEN: u8 = 0x0a;
/// The process name (comm) of netmon's agent.
const AGENT_NAME: &str = "netmon";

/// One row of /proc/net/tcp or /proc/net/tcp6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    pub local: SocketAddr,
    pub state: u8,
    pub inode: u64,
}

/// Parses a row such as
/// `0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12345 1 ...`;
/// the header row and anything malformed give `None`.
pub fn parse_proc_net_tcp_line(line: &str) -> Option<SocketEntry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 10 || !fields[0].ends_with(':') {
        return None;
    }
    let (address, port) = fields[1].split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = parse_proc_address(address)?;
    Some(SocketEntry {
        local: SocketAddr::new(ip, port),
        state: u8::from_str_radix(fields[3], 16).ok()?,
        inode: fields[9].parse().ok()?,
    })
}

/// The kernel prints an address as 32-bit words in this machine's byte
/// order: 8 hex digits for IPv4, 32 for IPv6.
fn parse_proc_address(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| {
            let word = hex.get(i * 8..i * 8 + 8)?;
            u32::from_str_radix(word, 16).ok().map(u32::to_ne_bytes)
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match (hex.len(), bytes.len()) {
        (8, 4) => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        (32, 16) => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// Every listening TCP socket of this network namespace.
fn listeners() -> Vec<SocketEntry> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(parse_proc_net_tcp_line)
                .collect::<Vec<_>>()
        })
        .filter(|entry| entry.state == TCP_LISTEN)
        .collect()
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holder {
    pub pid: u32,
    pub name: String,
}

/// The socket inode a /proc/<pid>/fd link points at (`socket:[12345]`).
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The processes holding each of `inodes`, found by walking every
/// /proc/<pid>/fd (processes this user may not inspect are skipped).
fn holders(inodes: &BTreeSet<u64>) -> BTreeMap<u64, BTreeSet<Holder>> {
    let mut found: BTreeMap<u64, BTreeSet<Holder>> = BTreeMap::new();
    if inodes.is_empty() {
        return found;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let inode = std::fs::read_link(fd.path())
                .ok()
                .and_then(|link| link.to_str().and_then(socket_inode));
            if let Some(inode) = inode.filter(|inode| inodes.contains(inode)) {
                let name = std::fs::read_to_string(process.path().join("comm"))
                    .map(|comm| comm.trim_end().to_string())
                    .unwrap_or_else(|_| "?".to_string());
                found.entry(inode).or_default().insert(Holder { pid, name });
            }
        }
    }
    found
}

/// What was found about one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortUse {
    pub port: u16,
    /// Listening addresses on the port, with the processes holding them.
    pub listening: Vec<(SocketAddr, BTreeSet<Holder>)>,
    /// Whether binding 127.0.0.1:<port> failed with "address in use".
    pub bind_in_use: bool,
}

/// `port:<n>`: pass when free or held only by netmon, fail otherwise.
pub fn evaluate(usage: &PortUse) -> Check {
    let name = format!("port:{}", usage.port);
    let fix = "stop the process holding it, or give netmon another port (api.address, export.prometheus.port, doctor --ports)";
    if usage.listening.is_empty() {
        return if usage.bind_in_use {
            Check::fail(
                name,
                format!(
                    "127.0.0.1:{} cannot be bound (address in use), and no listener holds it",
                    usage.port
                ),
                fix,
            )
        } else {
            Check::pass(name, format!("{} is free", usage.port))
        };
    }
    let addresses: Vec<String> = usage.listening.iter().map(|(a, _)| a.to_string()).collect();
    let all: BTreeSet<&Holder> = usage.listening.iter().flat_map(|(_, h)| h).collect();
    let every_address_has_a_holder = usage.listening.iter().all(|(_, h)| !h.is_empty());
    let held_by = if all.is_empty() {
        "a process this user cannot see".to_string()
    } else {
        all.iter()
            .map(|h| format!("pid {} ({})", h.pid, h.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = format!("{} held by {held_by}", addresses.join(", "));
    if every_address_has_a_holder && all.iter().all(|h| h.name == AGENT_NAME) {
        Check::pass(name, format!("{detail}: netmon already running"))
    } else {
        Check::fail(name, detail, fix)
    }
}

fn bind_in_use(port: u16) -> bool {
    matches!(
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
    )
}

/// One check per distinct port, in the order given.
pub fn checks(ports: &[u16]) -> Vec<Check> {
    let mut seen = BTreeSet::new();
    let ports: Vec<u16> = ports.iter().copied().filter(|p| seen.insert(*p)).collect();
    let listeners = listeners();
    let on_ports: Vec<&SocketEntry> = listeners
        .iter()
        .filter(|l| ports.contains(&l.local.port()))
        .collect();
    let holders = holders(&on_ports.iter().map(|l| l.inode).collect());
    ports
        .iter()
        .map(|&port| {
            let listening = on_ports
                .iter()
                .filter(|l| l.local.port() == port)
                .map(|l| (l.local, holders.get(&l.inode).cloned().unwrap_or_default()))
                .collect();
            evaluate(&PortUse {
                port,
                listening,
                bind_in_use: bind_in_use(port),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn ipv4_rows_give_address_port_state_and_inode() {
        let row = "   0: 0100007F:238B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 81234 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_proc_net_tcp_line(row),
            Some(SocketEntry {
                local: "127.0.0.1:9099".parse().expect("addr"),
                state: TCP_LISTEN,
                inode: 81234,
            })
        );
    }

    #[test]
    fn ipv6_rows_decode_each_word_in_host_order() {
        let row = "   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_proc_net_tcp_line(row).map(|e| e.local),
            Some("[::1]:8080".parse().expect("addr"))
        );
    }

    #[test]
    fn the_header_and_short_rows_are_skipped() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        assert_eq!(parse_proc_net_tcp_line(header), None);
        assert_eq!(parse_proc_net_tcp_line("0: 0100007F:238B"), None);
    }

    #[test]
    fn fd_links_to_sockets_give_their_inode() {
        assert_eq!(socket_inode("socket:[81234]"), Some(81234));
        assert_eq!(socket_inode("pipe:[81234]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    fn holder(pid: u32, name: &str) -> BTreeSet<Holder> {
        BTreeSet::from([Holder {
            pid,
            name: name.to_string(),
        }])
    }

    #[test]
    fn a_port_held_by_netmon_passes_and_by_anything_else_fails() {
        let addr: SocketAddr = "127.0.0.1:9091".parse().expect("addr");
        let by_netmon = evaluate(&PortUse {
            port: 9091,
            listening: vec![(addr, holder(77, "netmon"))],
            bind_in_use: true,
        });
        assert_eq!(by_netmon.status, Status::Pass);
        assert_eq!(
            by_netmon.detail,
            "127.0.0.1:9091 held by pid 77 (netmon): netmon already running"
        );
        let by_nginx = evaluate(&PortUse {
            port: 9091,
            listening: vec![(addr, holder(12, "nginx"))],
            bind_in_use: true,
        });
        assert_eq!(by_nginx.status, Status::Fail);
        assert_eq!(by_nginx.detail, "127.0.0.1:9091 held by pid 12 (nginx)");
    }

    #[test]
    fn a_free_port_passes_and_an_unbindable_one_without_listener_fails() {
        let free = PortUse {
            port: 9090,
            listening: vec![],
            bind_in_use: false,
        };
        assert_eq!(evaluate(&free).detail, "9090 is free");
        let bound = PortUse {
            bind_in_use: true,
            ..free
        };
        assert_eq!(evaluate(&bound).status, Status::Fail);
    }
}
