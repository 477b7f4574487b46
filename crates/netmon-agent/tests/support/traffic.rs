//! Traffic between pods with exactly known payloads: TCP transfers, UDP
//! echo, ICMP echo, and connects that are refused or time out. Sockets are
//! created on threads inside the pods' namespaces (see `in_netns`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::in_netns::in_netns;

/// Long enough for anything on a veth, short enough that a lost packet
/// fails the test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The two ends of a finished exchange.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// One TCP connection from `client_ns` to a server listening at `server` in
/// `server_ns`: the client sends exactly `request_bytes` and half-closes;
/// the server reads them all, answers exactly `response_bytes` and closes;
/// the client reads them all and closes. Both sides send a FIN, nothing is
/// reset. Panics unless both sides received exactly what was sent.
pub fn tcp_exchange(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    request_bytes: usize,
    response_bytes: usize,
) -> Endpoints {
    tcp_exchange_via(
        client_ns,
        server_ns,
        server,
        server,
        request_bytes,
        response_bytes,
    )
}

/// Like [`tcp_exchange`], with the client connecting to `connect_to` (a
/// Service address the node translates) while the server listens on
/// `server`. The returned `server` is `connect_to`, as the client saw it.
pub fn tcp_exchange_via(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    connect_to: SocketAddr,
    request_bytes: usize,
    response_bytes: usize,
) -> Endpoints {
    let listener = TcpServer::listen(server_ns, server);
    let server_thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.listener.accept().expect("accept");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let received = drain(&mut stream).expect("server read");
        send_pattern(&mut stream, response_bytes).expect("server write");
        received
    });

    let mut stream = in_netns(client_ns, || {
        TcpStream::connect_timeout(&connect_to, IO_TIMEOUT)
    })
    .unwrap_or_else(|e| panic!("connect from {client_ns} to {connect_to}: {e}"));
    let client = stream.local_addr().expect("local addr");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    send_pattern(&mut stream, request_bytes).expect("client write");
    stream.shutdown(Shutdown::Write).expect("client half-close");
    let received_by_client = drain(&mut stream).expect("client read");
    drop(stream);

    let received_by_server = server_thread.join().expect("server thread");
    assert_eq!(
        received_by_server, request_bytes,
        "the server received every request byte"
    );
    assert_eq!(
        received_by_client, response_bytes,
        "the client received every response byte"
    );
    Endpoints {
        client,
        server: connect_to,
    }
}

/// A listening TCP socket in a namespace.
pub struct TcpServer {
    listener: TcpListener,
}

impl TcpServer {
    pub fn listen(ns: &str, address: SocketAddr) -> TcpServer {
        let listener = in_netns(ns, || TcpListener::bind(address))
            .unwrap_or_else(|e| panic!("listen on {address} in {ns}: {e}"));
        TcpServer { listener }
    }

    /// Connects from `client_ns` and accepts, leaving the connection open.
    pub fn accept_connection_from(&self, client_ns: &str) -> OpenTcpConnection {
        let address = self.listener.local_addr().expect("local addr");
        let client = in_netns(client_ns, || {
            TcpStream::connect_timeout(&address, IO_TIMEOUT)
        })
        .unwrap_or_else(|e| panic!("connect from {client_ns} to {address}: {e}"));
        let (server, _) = self.listener.accept().expect("accept");
        for stream in [&client, &server] {
            stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        }
        OpenTcpConnection { client, server }
    }
}

/// An established connection both of whose ends the test holds.
pub struct OpenTcpConnection {
    client: TcpStream,
    server: TcpStream,
}

impl OpenTcpConnection {
    pub fn client_address(&self) -> SocketAddr {
        self.client.local_addr().expect("local addr")
    }

    /// Sends `bytes` each way (small enough to fit in socket buffers, since
    /// both ends are served from this one thread).
    pub fn exchange(&mut self, bytes: usize) {
        send_pattern(&mut self.client, bytes).expect("client write");
        read_exactly(&mut self.server, bytes).expect("server read");
        send_pattern(&mut self.server, bytes).expect("server write");
        read_exactly(&mut self.client, bytes).expect("client read");
    }

    /// Closes with a FIN from each side, client first.
    pub fn close(mut self) {
        self.client.shutdown(Shutdown::Write).expect("client FIN");
        assert_eq!(drain(&mut self.server).expect("server read"), 0);
        self.server.shutdown(Shutdown::Write).expect("server FIN");
        assert_eq!(drain(&mut self.client).expect("client read"), 0);
    }
}

/// `datagrams` UDP datagrams of `size` bytes from `client_ns` to `server`,
/// each echoed back by the server before the next is sent (lock-step, so
/// none is dropped for lack of buffer space). Returns both ends.
pub fn udp_echo(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    datagrams: usize,
    size: usize,
) -> Endpoints {
    udp_echo_via(client_ns, server_ns, server, server, datagrams, size)
}

/// Like [`udp_echo`], with the client sending to `connect_to` (an address
/// the node translates to `server`). The returned `server` is `connect_to`,
/// as the client saw it.
pub fn udp_echo_via(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    connect_to: SocketAddr,
    datagrams: usize,
    size: usize,
) -> Endpoints {
    let server_socket = in_netns(server_ns, || UdpSocket::bind(server))
        .unwrap_or_else(|e| panic!("bind {server} in {server_ns}: {e}"));
    server_socket
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("timeout");
    let echo = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65536];
        for _ in 0..datagrams {
            let (len, from) = server_socket.recv_from(&mut buffer).expect("server recv");
            server_socket
                .send_to(&buffer[..len], from)
                .expect("server send");
        }
    });

    let unspecified: SocketAddr = match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("address"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("address"),
    };
    let client = in_netns(client_ns, || UdpSocket::bind(unspecified)).expect("bind client");
    client.connect(connect_to).expect("connect udp");
    client.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let payload = vec![0x5a; size];
    let mut buffer = vec![0u8; 65536];
    for i in 0..datagrams {
        client.send(&payload).expect("client send");
        let len = client
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("echo of datagram {i}: {e}"));
        assert_eq!(len, size, "the echo has the datagram's size");
    }
    echo.join().expect("echo thread");
    Endpoints {
        client: client.local_addr().expect("local addr"),
        server: connect_to,
    }
}

/// Bytes of payload in each echo request, as `ping` sends by default.
pub const PING_PAYLOAD_BYTES: usize = 56;

/// Sends `count` ICMP (or ICMPv6) echo requests with `identifier` from
/// `ns` to `peer`, one at a time, waiting for each reply. A raw socket lets
/// the test choose the identifier, which the agent reports as `src_port`.
/// Returns how many replies arrived.
pub fn ping(ns: &str, peer: IpAddr, count: u16, identifier: u16) -> u16 {
    ping_with_payload(ns, peer, count, identifier, PING_PAYLOAD_BYTES)
}

/// Like [`ping`], with `payload` bytes after the 8-byte echo header.
pub fn ping_with_payload(
    ns: &str,
    peer: IpAddr,
    count: u16,
    identifier: u16,
    payload: usize,
) -> u16 {
    in_netns(ns, || {
        let mut socket = raw_icmp_socket(peer).expect("raw ICMP socket");
        let mut replies = 0;
        for sequence in 1..=count {
            let request = echo_request(peer, identifier, sequence, payload);
            socket.write_all(&request).expect("send echo request");
            if await_echo_reply(&mut socket, peer, identifier, sequence) {
                replies += 1;
            }
        }
        replies
    })
}

fn echo_request(peer: IpAddr, identifier: u16, sequence: u16, payload: usize) -> Vec<u8> {
    let kind = match peer {
        IpAddr::V4(_) => 8,
        IpAddr::V6(_) => 128,
    };
    let mut packet = vec![kind, 0, 0, 0];
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend((0..payload).map(|i| i as u8));
    // The kernel fills in the ICMPv6 checksum (it covers a pseudo-header
    // only the kernel knows for sure); ICMPv4's is ours to compute.
    if peer.is_ipv4() {
        let checksum = internet_checksum(&packet);
        packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    }
    packet
}

fn await_echo_reply(socket: &mut File, peer: IpAddr, identifier: u16, sequence: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buffer = [0u8; 2048];
    while Instant::now() < deadline {
        let len = match socket.read(&mut buffer) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(e) => panic!("receive echo reply: {e}"),
        };
        // IPv4 raw sockets deliver the IP header too; IPv6 ones do not.
        let (icmp, reply_type) = match peer {
            IpAddr::V4(_) => (&buffer[usize::from(buffer[0] & 0x0f) * 4..len], 0),
            IpAddr::V6(_) => (&buffer[..len], 129),
        };
        if icmp.len() >= 8
            && icmp[0] == reply_type
            && icmp[4..6] == identifier.to_be_bytes()
            && icmp[6..8] == sequence.to_be_bytes()
        {
            return true;
        }
    }
    false
}

/// A raw ICMP socket connected to `peer` (so it only receives from it),
/// wrapped as a `File` for plain read/write.
fn raw_icmp_socket(peer: IpAddr) -> io::Result<File> {
    let (family, protocol) = match peer {
        IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP),
        IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6),
    };
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let rc = match peer {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
            let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            address.sin_family = libc::AF_INET as libc::sa_family_t;
            address.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            // SAFETY: the pointer and length describe `address`.
            unsafe {
                libc::connect(
                    fd,
                    std::ptr::addr_of!(address).cast(),
                    std::mem::size_of_val(&address) as libc::socklen_t,
                )
            }
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
            let mut address: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            address.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            address.sin6_addr.s6_addr = v6.octets();
            // SAFETY: the pointer and length describe `address`.
            unsafe {
                libc::connect(
                    fd,
                    std::ptr::addr_of!(address).cast(),
                    std::mem::size_of_val(&address) as libc::socklen_t,
                )
            }
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: the pointer and length describe `timeout`.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::addr_of!(timeout).cast(),
            std::mem::size_of_val(&timeout) as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(socket))
}

/// RFC 1071 checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Connects from `ns` to `address`, where nothing listens: the peer's
/// kernel answers the SYN with a RST. Panics unless the connect is refused.
pub fn connect_refused(ns: &str, address: SocketAddr) {
    let result = in_netns(ns, || TcpStream::connect_timeout(&address, IO_TIMEOUT));
    match result {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
        other => panic!("expected connect to {address} to be refused, got {other:?}"),
    }
}

/// Connects from `ns` to `address`, whose SYNs are dropped, and waits for
/// the kernel to give up (after `net.ipv4.tcp_syn_retries` retransmissions,
/// which the caller lowers to keep this short). Panics unless the connect
/// fails with ETIMEDOUT; returns how long it took.
pub fn connect_timing_out(ns: &str, address: SocketAddr) -> Duration {
    let started = Instant::now();
    // No connect timeout of our own: the kernel's SYN retries must decide.
    let result = in_netns(ns, || TcpStream::connect(address));
    match result {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => started.elapsed(),
        other => panic!("expected connect to {address} to time out, got {other:?}"),
    }
}

fn send_pattern(stream: &mut TcpStream, bytes: usize) -> io::Result<()> {
    let chunk = [0x5au8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n])?;
        left -= n;
    }
    Ok(())
}

fn drain(stream: &mut TcpStream) -> io::Result<usize> {
    let mut buffer = [0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buffer)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

fn read_exactly(stream: &mut TcpStream, bytes: usize) -> io::Result<()> {
    let mut buffer = vec![0u8; bytes];
    stream.read_exact(&mut buffer)
}
