//! Conntrack as a source: which connections the node translated (DNAT to
//! a Service's backend, SNAT/masquerade), from ctnetlink events and dumps,
//! so the flow table can join the halves TC counted on either side of the
//! translation (see `flow::nat`).

pub mod parse;
pub mod socket;

use std::io;

pub use parse::{messages, Malformed, Message};
pub use socket::{dump_translated, EventSocket, ReadReport};

/// Why conntrack cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error("cannot open a NETLINK_NETFILTER socket: {0}")]
    Socket(#[source] io::Error),
    #[error("cannot subscribe to conntrack events: {source}{hint}")]
    Subscribe {
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    #[error("cannot send the conntrack dump request: {0}")]
    Send(#[source] io::Error),
    #[error("cannot receive from conntrack: {0}")]
    Receive(#[source] io::Error),
    #[error("the kernel refused the conntrack dump: {0} (is conntrack netlink, nf_conntrack_netlink, available?)")]
    Kernel(#[source] io::Error),
    #[error("a conntrack dump datagram of {0} bytes did not fit the receive buffer")]
    Truncated(usize),
}

impl ConntrackError {
    fn subscribe(source: io::Error) -> Self {
        let hint = if source.raw_os_error() == Some(libc::EPERM) {
            " (the agent needs CAP_NET_ADMIN)"
        } else {
            ""
        };
        ConntrackError::Subscribe { source, hint }
    }
}
