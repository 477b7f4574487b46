//! The netlink side: a `NETLINK_NETFILTER` socket subscribed to conntrack's
//! `NEW` and `DESTROY` events, and dumps of the conntrack table. Both belong
//! to the network namespace of the thread that opens them, like every
//! netlink socket, so the agent sees the translations of the node it runs
//! in.
//!
//! `UPDATE` events are not subscribed to: a connection's translation is
//! fixed when conntrack confirms it, and updates (one per TCP state change)
//! would multiply the agent's wake-ups for nothing.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};

use super::parse::{messages, Message, IPCTNL_MSG_CT_GET, NFNL_SUBSYS_CTNETLINK, NLMSG_HEADER_LEN};
use super::ConntrackError;
use crate::flow::NatBinding;

/// `NFNLGRP_CONNTRACK_NEW` and `NFNLGRP_CONNTRACK_DESTROY`.
const GROUP_NEW: u32 = 1;
const GROUP_DESTROY: u32 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
/// Room for bursts between two reads (a conntrack event takes about 1 KiB
/// of socket memory): the kernel drops events beyond it and says so with
/// `ENOBUFS`, which makes the agent re-read the whole table.
const RECEIVE_BUFFER_BYTES: libc::c_int = 8 << 20;
/// Larger than any netlink datagram the kernel builds for conntrack.
const DATAGRAM_BYTES: usize = 64 * 1024;
/// Datagrams read per call, so that an event storm cannot hold the caller.
const MAX_DATAGRAMS_PER_READ: usize = 4096;
/// A dump that stalls this long is abandoned.
const DUMP_TIMEOUT_SECONDS: libc::time_t = 5;

/// What one [`EventSocket::read_available`] call saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadReport {
    pub datagrams: usize,
    /// The kernel dropped events since the previous read (`ENOBUFS`): the
    /// table must be re-read to be trusted again.
    pub overflowed: bool,
    /// Messages that did not decode.
    pub malformed: u64,
    /// The read stopped at its cap with more datagrams waiting.
    pub more: bool,
}

/// A non-blocking socket receiving conntrack `NEW` and `DESTROY` events.
pub struct EventSocket {
    socket: Socket,
    datagram: Vec<u8>,
}

impl EventSocket {
    /// Opens the socket and subscribes to the event groups. Fails without
    /// `CAP_NET_ADMIN` in the namespace's user namespace.
    pub fn subscribe() -> Result<Self, ConntrackError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(ConntrackError::Socket)?;
        socket.bind_auto().map_err(ConntrackError::Socket)?;
        // Only the kernel may then send to this socket.
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(ConntrackError::Socket)?;
        for group in [GROUP_NEW, GROUP_DESTROY] {
            socket
                .add_membership(group)
                .map_err(ConntrackError::subscribe)?;
        }
        attach_translated_only_filter(&socket);
        enlarge_receive_buffer(&socket);
        socket
            .set_non_blocking(true)
            .map_err(ConntrackError::Socket)?;
        Ok(EventSocket {
            socket,
            datagram: Vec::with_capacity(DATAGRAM_BYTES),
        })
    }

    /// Reads the events waiting in the socket, without blocking, and hands
    /// each decoded message to `apply` in the order the kernel sent them.
    pub fn read_available(
        &mut self,
        mut apply: impl FnMut(Message),
    ) -> Result<ReadReport, ConntrackError> {
        let mut report = ReadReport::default();
        while report.datagrams < MAX_DATAGRAMS_PER_READ {
            self.datagram.clear();
            match self.socket.recv(&mut self.datagram, libc::MSG_TRUNC) {
                Ok(size) if size > self.datagram.len() => {
                    // Cannot happen with conntrack's datagram sizes; if it
                    // does, what was cut is lost like an overflow.
                    report.overflowed = true;
                    report.datagrams += 1;
                }
                Ok(_) => {
                    report.datagrams += 1;
                    for message in messages(&self.datagram) {
                        match message {
                            Ok(message) => apply(message),
                            Err(error) => {
                                report.malformed += 1;
                                tracing::debug!(%error, "skipped a conntrack message");
                            }
                        }
                    }
                }
                Err(error) => match error.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(report),
                    Some(libc::EINTR) => {}
                    Some(libc::ENOBUFS) => report.overflowed = true,
                    _ => return Err(ConntrackError::Receive(error)),
                },
            }
        }
        report.more = true;
        Ok(report)
    }
}

impl AsFd for EventSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The translated connections conntrack holds now, from a dump on a socket
/// of its own (blocking, bounded by a timeout).
pub fn dump_translated() -> Result<Vec<NatBinding>, ConntrackError> {
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(ConntrackError::Socket)?;
    socket.bind_auto().map_err(ConntrackError::Socket)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(ConntrackError::Socket)?;
    set_receive_timeout(&socket)?;
    socket
        .send(&dump_request(), 0)
        .map_err(ConntrackError::Send)?;

    let mut bindings = Vec::new();
    let mut datagram = Vec::with_capacity(DATAGRAM_BYTES);
    loop {
        datagram.clear();
        let size = match socket.recv(&mut datagram, libc::MSG_TRUNC) {
            Ok(size) => size,
            Err(error) if error.raw_os_error() == Some(libc::EINTR) => continue,
            Err(error) => return Err(ConntrackError::Receive(error)),
        };
        if size > datagram.len() {
            return Err(ConntrackError::Truncated(size));
        }
        for message in messages(&datagram) {
            match message {
                Ok(Message::New(Some(binding))) => bindings.push(binding),
                Ok(Message::Done) => return Ok(bindings),
                Ok(Message::Error(code)) if code < 0 => {
                    return Err(ConntrackError::Kernel(io::Error::from_raw_os_error(-code)))
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "skipped a conntrack dump message"),
            }
        }
    }
}

/// `IPCTNL_MSG_CT_GET` with `NLM_F_DUMP` for every address family.
fn dump_request() -> Vec<u8> {
    let length = (NLMSG_HEADER_LEN + 4) as u32;
    let mut request = Vec::with_capacity(length as usize);
    request.extend_from_slice(&length.to_ne_bytes());
    request.extend_from_slice(&(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET).to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    request.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel fills it in
                                                    // nfgenmsg: AF_UNSPEC (all families), NFNETLINK_V0, res_id 0.
    request.extend_from_slice(&[0, 0, 0, 0]);
    request
}

/// `IPS_SRC_NAT | IPS_DST_NAT` in `CTA_STATUS`.
const IPS_NAT_MASK: u32 = 0x30;
/// `CTA_STATUS`.
const CTA_STATUS: u32 = 3;

/// A classic BPF socket filter that drops, in the kernel, the events of
/// connections conntrack did not translate: once conntrack tracks the
/// namespace it reports every connection, and waking the agent for each
/// one cost more CPU than everything else it does in a connection storm.
/// Messages without a status attribute are kept. Best effort: without the
/// filter the parser drops them the same way, at a higher cost.
fn attach_translated_only_filter(socket: &Socket) {
    use libc::{BPF_ABS, BPF_IMM, BPF_IND, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_LDX};
    use libc::{BPF_ALU, BPF_AND, BPF_MISC, BPF_RET, BPF_TAX, BPF_W};
    let op = |code: u32| code as u16;
    let statement = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: op(BPF_JMP | BPF_JEQ | BPF_K),
        jt,
        jf,
        k,
    };
    let first_attribute = (NLMSG_HEADER_LEN + super::parse::NFGENMSG_LEN) as u32;
    let nlattr = (libc::SKF_AD_OFF + libc::SKF_AD_NLATTR) as u32;
    let mut program = [
        // A = offset of the first attribute, X = the type looked for.
        statement(op(BPF_LD | BPF_IMM), first_attribute),
        statement(op(BPF_LDX | BPF_IMM), CTA_STATUS),
        // A = offset of the CTA_STATUS attribute, 0 when there is none.
        statement(op(BPF_LD | BPF_W | BPF_ABS), nlattr),
        jump(0, 4, 0),
        // A = the status (big-endian, as cBPF word loads read it).
        statement(op(BPF_MISC | BPF_TAX), 0),
        statement(op(BPF_LD | BPF_W | BPF_IND), 4),
        statement(op(BPF_ALU | BPF_AND | BPF_K), IPS_NAT_MASK),
        jump(0, 1, 0),
        statement(op(BPF_RET | BPF_K), u32::MAX),
        statement(op(BPF_RET | BPF_K), 0),
    ];
    let filter = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: setsockopt on our own socket with a pointer to a local
    // sock_fprog whose program outlives the call (the kernel copies it).
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::addr_of!(filter).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "conntrack event filter not attached; untranslated events are dropped in user space");
    }
}

/// Best effort: `SO_RCVBUFFORCE` passes `rmem_max` with `CAP_NET_ADMIN`,
/// which subscribing needed anyway; `SO_RCVBUF` is the fallback.
fn enlarge_receive_buffer(socket: &Socket) {
    let size = RECEIVE_BUFFER_BYTES;
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt on our own socket with a pointer to a local
        // int and its size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                std::ptr::addr_of!(size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

fn set_receive_timeout(socket: &Socket) -> Result<(), ConntrackError> {
    let timeout = libc::timeval {
        tv_sec: DUMP_TIMEOUT_SECONDS,
        tv_usec: 0,
    };
    // SAFETY: setsockopt on our own socket with a pointer to a local
    // timeval and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::addr_of!(timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(ConntrackError::Socket(io::Error::last_os_error()))
    }
}
