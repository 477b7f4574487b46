//! What a connection's payload said: its application protocol with the few
//! classified fields, and its DNS transactions. Produced by `inspect/` from
//! the kernel's payload samples, merged into records by
//! [`FlowTable::apply_app`](super::FlowTable::apply_app).

use super::model::DirectionalKey;
use crate::l7::{AppFields, AppProtocol};

/// One DNS query and its response (or its absence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTransaction {
    /// The question's name, lower case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    /// The response's rcode; `None` when no response came in time.
    pub rcode: Option<u8>,
    /// Response time minus query time, both stamped by the kernel at the
    /// interface; `None` when the query was not seen or not answered.
    pub latency_ns: Option<u64>,
}

/// The application layer of a record; boxed in the record, since most
/// records of a busy node never carry one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppInfo {
    pub protocol: Option<AppProtocol>,
    pub fields: AppFields,
    /// The connection's latest DNS transaction.
    pub dns: Option<DnsTransaction>,
    /// DNS transactions seen on the connection.
    pub dns_transactions: u64,
}

/// What one or more payload samples taught about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppUpdate {
    /// The protocol and the fields decoded so far (fields not decoded are
    /// `None` and leave the record's values alone).
    Protocol {
        protocol: AppProtocol,
        fields: AppFields,
    },
    /// A DNS transaction completed or timed out.
    Dns(DnsTransaction),
}

/// An update for the connection a packet of `key` belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppObservation {
    /// The sampled packet's direction (for DNS: the query's, client → server).
    pub key: DirectionalKey,
    pub update: AppUpdate,
    /// Drains this observation already found no record in.
    pub misses: u8,
}

impl AppInfo {
    /// Merges an update; returns whether anything changed.
    pub fn merge(&mut self, update: &AppUpdate) -> bool {
        let before = self.clone();
        match update {
            AppUpdate::Protocol { protocol, fields } => {
                self.protocol = Some(match self.protocol {
                    // gRPC is HTTP/2 whose content type says so: an upgrade
                    // found in a later frame, never undone.
                    Some(AppProtocol::Grpc) if *protocol == AppProtocol::Http2 => AppProtocol::Grpc,
                    _ => *protocol,
                });
                merge_field(&mut self.fields.http_method, &fields.http_method);
                merge_field(&mut self.fields.http_status, &fields.http_status);
                merge_field(&mut self.fields.tls_version, &fields.tls_version);
                merge_field(&mut self.fields.tls_sni, &fields.tls_sni);
                merge_field(&mut self.fields.server_version, &fields.server_version);
            }
            AppUpdate::Dns(transaction) => {
                self.dns = Some(transaction.clone());
                self.dns_transactions += 1;
            }
        }
        *self != before
    }
}

/// The first value decoded stays: a connection's first request and response
/// describe it (later HTTP/1.1 keep-alive requests are not sampled anyway).
/// The classifier resolves what needs a choice (the TLS version negotiated
/// over the one offered) before the update is made.
fn merge_field<T: Clone>(field: &mut Option<T>, new: &Option<T>) {
    if new.is_some() {
        *field = new.clone();
    }
}
