//! IPFIX (RFC 7011) export of flow records over UDP to any collector
//! (nfcapd, pmacct, nProbe, Elastic, ...): `export.ipfix`.
//!
//! The flow table's changes go into a [`FlowTracker`] through the
//! [`IpfixFeed`] (`runtime::state` publishes every change there, so each
//! counted byte is exported once); the [`IpfixExporter`] task takes the
//! records due once a second, encodes them ([`MessageEncoder`]) and sends
//! them. Templates, fields and timing are described in docs/export.md.

mod collector;
mod elements;
mod encoder;
mod exporter;
mod feed;
mod record;
mod templates;
mod tracker;

#[cfg(test)]
mod decode;
#[cfg(test)]
mod encoder_tests;
#[cfg(test)]
mod exporter_tests;
#[cfg(test)]
mod tracker_tests;

use std::net::SocketAddr;

use thiserror::Error;

pub use collector::CollectorAddress;
pub use elements::Element;
pub use encoder::{Message, MessageEncoder};
pub use exporter::{start, IpfixExport, IpfixExporter};
pub use feed::IpfixFeed;
pub use record::{EndReason, FlowDirection, IpfixRecord};
pub use templates::Template;
pub use tracker::FlowTracker;

#[derive(Debug, Error)]
pub enum IpfixError {
    #[error("{given:?}: {why}")]
    BadCollector { given: String, why: String },
    #[error("looking up the collector {collector}: {why}")]
    Unresolved { collector: String, why: String },
    #[error("the collector {collector} has no address yet (its lookup failed)")]
    NoCollectorAddress { collector: String },
    #[error("opening a UDP socket to {address}: {source}")]
    Socket {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("sending to {address}: {source}")]
    Send {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
