//! The application-layer fields of a flow's JSON: protocol, classified
//! fields, the latest DNS transaction, and the name the node resolved to
//! the responder's address. All `null` when nothing was learned.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use crate::flow::{DnsTransaction, FlowRecord};
use crate::l7::{self, AppProtocol, TlsVersion};

/// `rcode` shown for a query that was not answered in time.
pub const DNS_TIMEOUT: &str = "timeout";

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct AppView {
    /// "http", "http2", "grpc", "tls", "dns", "redis", "mysql", "postgresql".
    pub app_protocol: Option<AppProtocol>,
    /// From the first request (HTTP/1.x request line, HTTP/2 `:method`).
    pub http_method: Option<String>,
    /// From the first response (HTTP/1.x status line, HTTP/2 `:status`).
    pub http_status: Option<u16>,
    /// The version the ServerHello chose, else the ClientHello's highest.
    pub tls_version: Option<TlsVersion>,
    /// The ClientHello's server name.
    pub tls_sni: Option<String>,
    /// The server's version from its greeting (MySQL, MariaDB).
    pub server_version: Option<String>,
    /// The connection's latest DNS transaction.
    pub dns: Option<DnsView>,
    pub dns_transactions: u64,
    /// The name a DNS answer seen on this node gave the responder's address.
    pub dst_dns_name: Option<Arc<str>>,
}

/// One DNS query and its response.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct DnsView {
    pub name: String,
    /// "A", "AAAA", ... ("TYPE65280" for types without a name).
    #[serde(rename = "type")]
    pub qtype: Cow<'static, str>,
    /// "NOERROR", "NXDOMAIN", ..., or "timeout" when no response came.
    pub rcode: &'static str,
    /// Response time minus query time at the interface; `null` when the
    /// query was not seen or not answered.
    pub latency_seconds: Option<f64>,
}

impl DnsView {
    pub fn of(transaction: &DnsTransaction) -> Self {
        DnsView {
            name: transaction.name.clone(),
            qtype: l7::dns::qtype_name(transaction.qtype),
            rcode: transaction.rcode.map_or(DNS_TIMEOUT, l7::dns::rcode_name),
            latency_seconds: transaction.latency_ns.map(|ns| ns as f64 / 1e9),
        }
    }
}

impl AppView {
    pub fn of(record: &FlowRecord, dst_dns_name: Option<Arc<str>>) -> Self {
        let mut view = AppView {
            dst_dns_name,
            ..AppView::default()
        };
        if let Some(app) = &record.app() {
            view.app_protocol = app.protocol;
            view.http_method = app.fields.http_method.clone();
            view.http_status = app.fields.http_status;
            view.tls_version = app.fields.tls_version;
            view.tls_sni = app.fields.tls_sni.clone();
            view.server_version = app.fields.server_version.clone();
            view.dns = app.dns.as_ref().map(DnsView::of);
            view.dns_transactions = app.dns_transactions;
        }
        view
    }
}
