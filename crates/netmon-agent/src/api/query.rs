//! Parsing and applying the query parameters of `GET /api/v1/flows`.
//!
//! Parsed by hand rather than with a serde struct: serde's messages name
//! Rust types, not parameters, and an unknown parameter would be silently
//! ignored. Here every rejection says which parameter, what was given and
//! what is accepted.
//!
//! Every filter also exists as `not_<filter>`: the flow must not match it.
//! All filters given must hold together.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use super::names::FlowNames;
use super::security::SecurityEventView;
use super::view::FlowView;
use crate::flow::{FlowStatus, Protocol, UnixNanos};
use crate::l7::AppProtocol;

const PARAMETERS: &str = "ip, port, protocol, app_protocol, status, \
     pod, namespace, workload, service, node (either end), ip, port and the names also with a \
     src_ or dst_ prefix, every filter also with a not_ prefix, since, follow, limit";
const PROTOCOLS: &str = "tcp, udp, icmp, icmpv6, sctp, or a number 0-255";
const APP_PROTOCOLS: &str = "http, http2, grpc, tls, dns, redis, mysql, postgresql, or unknown";
const STATUSES: &str = "active, closed, reset, refused, timeout";
const SINCE_FORMS: &str = "a duration such as 30s, 5m or 1h30m, or an RFC 3339 time such as \
     2026-12-03T17:00:00Z";
const ALL_STATUSES: [FlowStatus; 5] = [
    FlowStatus::Active,
    FlowStatus::Closed,
    FlowStatus::Reset,
    FlowStatus::Refused,
    FlowStatus::Timeout,
];
/// Prefix of a negated filter.
const NOT: &str = "not_";

/// A rejected query; the message is returned to the client as `{"error": ...}`.
/// `name` is always the parameter as the client spelt it (`not_src_port`).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("{0}: unknown parameter (known: {PARAMETERS})")]
    UnknownParameter(String),
    #[error("{name}: given more than once; give it once{hint}")]
    Repeated { name: String, hint: &'static str },
    #[error("{name}: {value:?} is not an IPv4 or IPv6 address")]
    BadIp { name: String, value: String },
    #[error("{name}: {value:?} is not a port number (0-65535)")]
    BadPort { name: String, value: String },
    #[error("{name}: {value:?} is not a protocol ({PROTOCOLS})")]
    BadProtocol { name: String, value: String },
    #[error("{name}: {value:?} is not an application protocol ({APP_PROTOCOLS})")]
    BadAppProtocol { name: String, value: String },
    #[error("{name}: {value:?} is not a flow status ({STATUSES}; comma-separated for several)")]
    BadStatus { name: String, value: String },
    #[error("since: {0:?} is not {SINCE_FORMS}")]
    BadSince(String),
    #[error("follow: {0:?} is not a boolean (true or false)")]
    BadFollow(String),
    #[error("limit: {0:?} is not a positive integer (1 or more)")]
    BadLimit(String),
    #[error("limit: cannot be combined with follow=true (a follow stream only sends new events)")]
    LimitWithFollow,
    #[error("{0}: needs a value (a Kubernetes name)")]
    EmptyName(String),
    #[error("query string could not be decoded: {0}")]
    Undecodable(String),
}

/// Filters and options of one request. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowQuery {
    /// Either end's address equals this (IPv4-mapped IPv6 is unmapped first).
    pub ip: Option<IpAddr>,
    /// The initiator's (`src_ip`) or the responder's (`dst_ip`) address.
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    /// Either end's port equals this.
    pub port: Option<u16>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<Protocol>,
    /// The flow's application protocol: `Some(None)` asks for the flows
    /// none was recognised in (`app_protocol=unknown`).
    pub app_protocol: Option<Option<AppProtocol>>,
    /// The flow's status is one of these.
    pub statuses: Option<Vec<FlowStatus>>,
    /// Kubernetes names the flow's ends must have, all of them.
    pub names: Vec<NameFilter>,
    /// `not_*` filters: the flow must match none of them.
    pub excluded: Vec<Filter>,
    /// Only flows seen at or after this (`last_seen`).
    pub since: Option<Since>,
    pub follow: bool,
    /// Keep only the newest `limit` flows after sorting.
    pub limit: Option<usize>,
}

/// Which end of a flow a filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Either,
    Src,
    Dst,
}

impl End {
    /// Splits `src_`/`dst_` off a parameter name.
    fn of(name: &str) -> (End, &str) {
        match name.split_once('_') {
            Some(("src", rest)) => (End::Src, rest),
            Some(("dst", rest)) => (End::Dst, rest),
            _ => (End::Either, name),
        }
    }
}

/// One filter, as a `not_*` parameter gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Ip(End, IpAddr),
    Port(End, u16),
    Protocol(Protocol),
    AppProtocol(Option<AppProtocol>),
    Status(Vec<FlowStatus>),
    Name(NameFilter),
}

impl Filter {
    pub fn matches(&self, flow: &FlowView) -> bool {
        match self {
            Filter::Ip(end, ip) => ip_matches(flow, *end, *ip),
            Filter::Port(end, port) => port_matches(flow, *end, *port),
            Filter::Protocol(protocol) => flow.protocol_number == protocol.number(),
            Filter::AppProtocol(wanted) => flow.app.app_protocol == *wanted,
            Filter::Status(statuses) => statuses.contains(&flow.status),
            Filter::Name(filter) => filter.matches(&flow.names),
        }
    }

    /// Whether a security event matches, or `None` when the event has no
    /// such field (ports, protocols and statuses are flows' only).
    fn matches_security(&self, event: &SecurityEventView) -> Option<bool> {
        match self {
            Filter::Ip(end, ip) => Some(security_ip_matches(event, *end, *ip)),
            Filter::Name(filter) => Some(filter.matches(&event.names)),
            Filter::Port(..) | Filter::Protocol(_) | Filter::AppProtocol(_) | Filter::Status(_) => {
                None
            }
        }
    }
}

/// `since=`: a time, or a duration back from the moment of matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    At(UnixNanos),
}

impl Since {
    /// The earliest `last_seen` that passes, as of `now`.
    pub fn earliest(self, now: UnixNanos) -> UnixNanos {
        match self {
            Since::Ago(ago) => {
                now.saturating_sub(u64::try_from(ago.as_nanos()).unwrap_or(u64::MAX))
            }
            Since::At(at) => at,
        }
    }
}

/// Which Kubernetes name a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameField {
    Pod,
    Namespace,
    Workload,
    Service,
    Node,
}

impl NameField {
    const ALL: [(NameField, &'static str); 5] = [
        (NameField::Pod, "pod"),
        (NameField::Namespace, "namespace"),
        (NameField::Workload, "workload"),
        (NameField::Service, "service"),
        (NameField::Node, "node"),
    ];

    fn values(self, names: &FlowNames) -> (Option<&str>, Option<&str>) {
        let (src, dst) = match self {
            NameField::Pod => (&names.src_pod, &names.dst_pod),
            NameField::Namespace => (&names.src_namespace, &names.dst_namespace),
            NameField::Workload => (&names.src_workload, &names.dst_workload),
            NameField::Service => (&names.src_service, &names.dst_service),
            NameField::Node => (&names.src_node, &names.dst_node),
        };
        (src.as_deref(), dst.as_deref())
    }
}

/// `pod=x`, `src_namespace=y`, ...: an exact name on one or either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFilter {
    pub end: End,
    pub field: NameField,
    pub value: String,
}

impl NameFilter {
    /// The filter a parameter name (without `not_`) stands for, if it is a
    /// name filter.
    fn parameter(name: &str) -> Option<(End, NameField)> {
        let (end, field) = End::of(name);
        NameField::ALL
            .iter()
            .find(|(_, spelling)| *spelling == field)
            .map(|(field, _)| (end, *field))
    }

    pub(crate) fn matches(&self, names: &FlowNames) -> bool {
        let (src, dst) = self.field.values(names);
        let wanted = Some(self.value.as_str());
        match self.end {
            End::Either => src == wanted || dst == wanted,
            End::Src => src == wanted,
            End::Dst => dst == wanted,
        }
    }
}

/// An end's address as the initiator addressed it or as translation
/// changed it, so a Service's backend finds the connections made to the
/// Service.
fn ip_matches(flow: &FlowView, end: End, ip: IpAddr) -> bool {
    let translated = &flow.translated;
    let src = flow.src_ip == ip || translated.src_translated_ip == Some(ip);
    let dst = flow.dst_ip == ip || translated.dst_translated_ip == Some(ip);
    match end {
        End::Either => src || dst,
        End::Src => src,
        End::Dst => dst,
    }
}

/// Like [`ip_matches`], for ports.
fn port_matches(flow: &FlowView, end: End, port: u16) -> bool {
    let translated = &flow.translated;
    let src = flow.src_port == port || translated.src_translated_port == Some(port);
    let dst = flow.dst_port == port || translated.dst_translated_port == Some(port);
    match end {
        End::Either => src || dst,
        End::Src => src,
        End::Dst => dst,
    }
}

/// A security event's source is its `src`, the scanned host its `dst`.
fn security_ip_matches(event: &SecurityEventView, end: End, ip: IpAddr) -> bool {
    let src = event.src_ip == ip;
    let dst = event.dst_ip == Some(ip);
    match end {
        End::Either => src || dst,
        End::Src => src,
        End::Dst => dst,
    }
}

/// The wall clock in the flows' unit.
pub(crate) fn wall_now() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

impl FlowQuery {
    /// Parses decoded `(name, value)` pairs in the order they were given.
    pub fn parse<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, QueryError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut query = FlowQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            // Only known names are ever added to `seen`, so an unknown name
            // is reported as unknown even when it is repeated.
            if seen.iter().any(|s| s == name) {
                let hint = if name.trim_start_matches(NOT) == "status" {
                    " (use a comma-separated list for several statuses)"
                } else {
                    ""
                };
                return Err(QueryError::Repeated {
                    name: name.to_owned(),
                    hint,
                });
            }
            match name {
                "follow" => query.follow = parse_follow(value)?,
                "limit" => query.limit = Some(parse_limit(value)?),
                "since" => query.since = Some(parse_since(value)?),
                _ => match name.strip_prefix(NOT) {
                    Some(negated) => query.excluded.push(parse_filter(name, negated, value)?),
                    None => {
                        let filter = parse_filter(name, name, value)?;
                        query.require(filter);
                    }
                },
            }
            seen.push(name.to_owned());
        }
        if query.follow && query.limit.is_some() {
            return Err(QueryError::LimitWithFollow);
        }
        Ok(query)
    }

    fn require(&mut self, filter: Filter) {
        match filter {
            Filter::Ip(End::Either, ip) => self.ip = Some(ip),
            Filter::Ip(End::Src, ip) => self.src_ip = Some(ip),
            Filter::Ip(End::Dst, ip) => self.dst_ip = Some(ip),
            Filter::Port(End::Either, port) => self.port = Some(port),
            Filter::Port(End::Src, port) => self.src_port = Some(port),
            Filter::Port(End::Dst, port) => self.dst_port = Some(port),
            Filter::Protocol(protocol) => self.protocol = Some(protocol),
            Filter::AppProtocol(wanted) => self.app_protocol = Some(wanted),
            Filter::Status(statuses) => self.statuses = Some(statuses),
            Filter::Name(filter) => self.names.push(filter),
        }
    }

    /// Whether `flow` passes every filter now; see [`FlowQuery::matches_at`].
    pub fn matches(&self, flow: &FlowView) -> bool {
        self.matches_at(flow, wall_now())
    }

    /// Whether `flow` passes every filter, with `since` counted back from
    /// `now`. `ip` and `port` (and their `src_`/`dst_` forms) match an end
    /// as the initiator addressed it or as translation changed it.
    pub fn matches_at(&self, flow: &FlowView, now: UnixNanos) -> bool {
        let ends = [
            (End::Either, self.ip, self.port),
            (End::Src, self.src_ip, self.src_port),
            (End::Dst, self.dst_ip, self.dst_port),
        ];
        ends.iter().all(|(end, ip, port)| {
            ip.is_none_or(|ip| ip_matches(flow, *end, ip))
                && port.is_none_or(|port| port_matches(flow, *end, port))
        }) && self
            .protocol
            .is_none_or(|protocol| flow.protocol_number == protocol.number())
            && self
                .app_protocol
                .is_none_or(|wanted| flow.app.app_protocol == wanted)
            && self
                .statuses
                .as_ref()
                .is_none_or(|statuses| statuses.contains(&flow.status))
            && self.names.iter().all(|filter| filter.matches(&flow.names))
            && self.excluded.iter().all(|filter| !filter.matches(flow))
            && self
                .since
                .is_none_or(|since| flow.last_seen_ns >= since.earliest(now))
    }

    /// Whether a flow follow stream with this query carries a security
    /// event. `ip` matches the source or the scanned host (`src_ip` the
    /// source, `dst_ip` the host), name filters the names of either; an
    /// event has no port, protocol or status, so a stream filtered by any
    /// of those carries no security events, while a `not_` filter on them
    /// lets every event through. `since` compares the detection time.
    pub(crate) fn carries_security(&self, event: &SecurityEventView) -> bool {
        let flow_only = self.port.is_some()
            || self.src_port.is_some()
            || self.dst_port.is_some()
            || self.protocol.is_some()
            || self.app_protocol.is_some()
            || self.statuses.is_some();
        let ends = [
            (End::Either, self.ip),
            (End::Src, self.src_ip),
            (End::Dst, self.dst_ip),
        ];
        !flow_only
            && ends
                .iter()
                .all(|(end, ip)| ip.is_none_or(|ip| security_ip_matches(event, *end, ip)))
            && self.names.iter().all(|filter| filter.matches(&event.names))
            && self
                .excluded
                .iter()
                .all(|filter| filter.matches_security(event) != Some(true))
            && self
                .since
                .is_none_or(|since| event.detected_at_ns >= since.earliest(wall_now()))
    }

    /// The response of a non-follow request: matching flows, oldest first
    /// (by `first_seen`, then id), cut to the newest `limit`.
    pub fn select(&self, flows: Vec<FlowView>) -> Vec<FlowView> {
        super::select::select(
            self,
            wall_now(),
            flows
                .into_iter()
                .map(|f| ((f.first_seen_ns, f.id), move || f)),
        )
    }
}

/// The filter parameter `filter` (`name` without `not_`) stands for, with
/// errors naming the parameter as given.
fn parse_filter(name: &str, filter: &str, value: &str) -> Result<Filter, QueryError> {
    let (end, field) = End::of(filter);
    match (end, field) {
        (_, "ip") => return parse_ip(name, value).map(|ip| Filter::Ip(end, ip)),
        (_, "port") => return parse_port(name, value).map(|port| Filter::Port(end, port)),
        (End::Either, "protocol") => return parse_protocol(name, value).map(Filter::Protocol),
        (End::Either, "app_protocol") => {
            return parse_app_protocol(name, value).map(Filter::AppProtocol)
        }
        (End::Either, "status") => return parse_statuses(name, value).map(Filter::Status),
        _ => {}
    }
    match NameFilter::parameter(filter) {
        Some(_) if value.is_empty() => Err(QueryError::EmptyName(name.to_owned())),
        Some((end, field)) => Ok(Filter::Name(NameFilter {
            end,
            field,
            value: value.to_owned(),
        })),
        None => Err(QueryError::UnknownParameter(name.to_owned())),
    }
}

fn parse_app_protocol(name: &str, value: &str) -> Result<Option<AppProtocol>, QueryError> {
    let lower = value.to_ascii_lowercase();
    if lower == "unknown" {
        return Ok(None);
    }
    AppProtocol::from_name(&lower)
        .map(Some)
        .ok_or_else(|| QueryError::BadAppProtocol {
            name: name.to_owned(),
            value: value.to_owned(),
        })
}

fn parse_ip(name: &str, value: &str) -> Result<IpAddr, QueryError> {
    value
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| QueryError::BadIp {
            name: name.to_owned(),
            value: value.to_owned(),
        })
}

/// Only plain digits: `str::parse` would also take "+80".
fn parse_digits<T: std::str::FromStr>(value: &str) -> Option<T> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_port(name: &str, value: &str) -> Result<u16, QueryError> {
    parse_digits(value).ok_or_else(|| QueryError::BadPort {
        name: name.to_owned(),
        value: value.to_owned(),
    })
}

fn parse_protocol(name: &str, value: &str) -> Result<Protocol, QueryError> {
    if let Some(number) = parse_digits::<u8>(value) {
        return Ok(Protocol::from_number(number));
    }
    match value.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "icmp" => Ok(Protocol::Icmp),
        "icmpv6" => Ok(Protocol::Icmpv6),
        "sctp" => Ok(Protocol::Sctp),
        _ => Err(QueryError::BadProtocol {
            name: name.to_owned(),
            value: value.to_owned(),
        }),
    }
}

fn parse_statuses(name: &str, value: &str) -> Result<Vec<FlowStatus>, QueryError> {
    value
        .split(',')
        .map(|item| {
            ALL_STATUSES
                .into_iter()
                .find(|status| status.name() == item)
                .ok_or_else(|| QueryError::BadStatus {
                    name: name.to_owned(),
                    value: item.to_owned(),
                })
        })
        .collect()
}

/// A duration back from now (`5m`), or a time: RFC 3339 with `Z` or a
/// numeric offset (`2026-12-03T18:00:00+01:00`).
fn parse_since(value: &str) -> Result<Since, QueryError> {
    let bad = || QueryError::BadSince(value.to_owned());
    if value.starts_with(|c: char| c.is_ascii_digit()) && !value.contains('-') {
        return humantime::parse_duration(value)
            .map(Since::Ago)
            .map_err(|_| bad());
    }
    let (local, offset_seconds) = split_utc_offset(value).ok_or_else(bad)?;
    let local = humantime::parse_rfc3339(&format!("{local}Z")).map_err(|_| bad())?;
    let utc = if offset_seconds >= 0 {
        local.checked_sub(Duration::from_secs(offset_seconds.unsigned_abs()))
    } else {
        local.checked_add(Duration::from_secs(offset_seconds.unsigned_abs()))
    };
    let since_epoch = utc
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .ok_or_else(bad)?;
    u64::try_from(since_epoch.as_nanos())
        .map(Since::At)
        .map_err(|_| bad())
}

/// `(time without its zone, offset east of UTC in seconds)`; `None` when
/// the text ends in neither `Z` nor `±HH:MM`.
fn split_utc_offset(value: &str) -> Option<(&str, i64)> {
    if let Some(local) = value.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let split = value.len().checked_sub(6)?;
    let (local, zone) = (value.get(..split)?, value.get(split..)?);
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = zone[1..].split_once(':')?;
    let hours: i64 = parse_digits(hours).filter(|h| *h <= 23)?;
    let minutes: i64 = parse_digits(minutes).filter(|m| *m <= 59)?;
    Some((local, sign * (hours * 3600 + minutes * 60)))
}

fn parse_follow(value: &str) -> Result<bool, QueryError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError::BadFollow(value.to_owned())),
    }
}

fn parse_limit(value: &str) -> Result<usize, QueryError> {
    match parse_digits::<usize>(value) {
        Some(limit) if limit >= 1 => Ok(limit),
        _ => Err(QueryError::BadLimit(value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::api::testing::view;

    fn parse(pairs: &[(&str, &str)]) -> Result<FlowQuery, QueryError> {
        FlowQuery::parse(pairs.iter().copied())
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        parse(pairs).unwrap_err().to_string()
    }

    #[test]
    fn app_protocol_filters_by_the_recognised_protocol_or_its_absence() {
        assert_eq!(
            parse(&[("app_protocol", "HTTP")]).unwrap().app_protocol,
            Some(Some(AppProtocol::Http))
        );
        assert_eq!(
            parse(&[("app_protocol", "unknown")]).unwrap().app_protocol,
            Some(None)
        );
        assert_eq!(
            error(&[("app_protocol", "ftp")]),
            "app_protocol: \"ftp\" is not an application protocol (http, http2, grpc, tls, dns, redis, mysql, postgresql, or unknown)"
        );
        let mut flow = view(1, "10.0.0.1", 40000, "10.0.0.2", 80);
        let http = parse(&[("app_protocol", "http")]).unwrap();
        let unknown = parse(&[("app_protocol", "unknown")]).unwrap();
        assert!(!http.matches(&flow) && unknown.matches(&flow));
        flow.app.app_protocol = Some(AppProtocol::Http);
        assert!(http.matches(&flow) && !unknown.matches(&flow));
    }

    #[test]
    fn name_filters_match_either_end_or_the_given_one() {
        let mut flow = view(1, "10.0.0.1", 40000, "10.0.0.2", 80);
        flow.names.src_pod = Some("web-1".into());
        flow.names.src_namespace = Some("shop".into());
        flow.names.dst_namespace = Some("pay".into());
        flow.names.dst_service = Some("api".into());
        flow.names.dst_node = Some("node-b".into());
        let matches = |pairs: &[(&str, &str)]| parse(pairs).unwrap().matches(&flow);
        assert!(matches(&[("namespace", "pay")]));
        assert!(matches(&[("namespace", "shop")]));
        assert!(matches(&[
            ("src_namespace", "shop"),
            ("dst_namespace", "pay")
        ]));
        assert!(!matches(&[("src_namespace", "pay")]));
        assert!(matches(&[("pod", "web-1"), ("service", "api")]));
        assert!(!matches(&[("dst_pod", "web-1")]));
        assert!(matches(&[("dst_node", "node-b")]));
        assert!(!matches(&[("workload", "web")]));
    }

    #[test]
    fn a_name_filter_needs_a_value_and_unknown_prefixes_are_unknown() {
        assert_eq!(
            error(&[("src_pod", "")]),
            "src_pod: needs a value (a Kubernetes name)"
        );
        assert!(error(&[("peer_pod", "x")]).starts_with("peer_pod: unknown parameter"));
        assert!(error(&[("src_status", "x")]).starts_with("src_status: unknown parameter"));
    }

    #[test]
    fn no_parameters_means_no_filter() {
        assert_eq!(parse(&[]).unwrap(), FlowQuery::default());
    }

    #[test]
    fn ip_accepts_ipv4_and_ipv6() {
        assert_eq!(
            parse(&[("ip", "10.0.0.1")]).unwrap().ip,
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            parse(&[("ip", "fd00::1")]).unwrap().ip,
            Some(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)))
        );
    }

    #[test]
    fn ip_given_as_ipv4_mapped_ipv6_is_unmapped() {
        assert_eq!(
            parse(&[("ip", "::ffff:10.0.0.1")]).unwrap().ip,
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn ip_that_is_not_an_address_is_rejected() {
        assert_eq!(
            error(&[("ip", "10.0.0")]),
            r#"ip: "10.0.0" is not an IPv4 or IPv6 address"#
        );
    }

    #[test]
    fn port_accepts_the_whole_range() {
        assert_eq!(parse(&[("port", "0")]).unwrap().port, Some(0));
        assert_eq!(parse(&[("port", "65535")]).unwrap().port, Some(65535));
    }

    #[test]
    fn port_that_is_not_a_number_or_out_of_range_is_rejected() {
        assert_eq!(
            error(&[("port", "abc")]),
            r#"port: "abc" is not a port number (0-65535)"#
        );
        assert_eq!(
            error(&[("port", "65536")]),
            r#"port: "65536" is not a port number (0-65535)"#
        );
        assert_eq!(
            error(&[("port", "+80")]),
            r#"port: "+80" is not a port number (0-65535)"#
        );
        assert_eq!(
            error(&[("port", "")]),
            r#"port: "" is not a port number (0-65535)"#
        );
    }

    #[test]
    fn protocol_accepts_names_in_any_case_and_numbers() {
        assert_eq!(
            parse(&[("protocol", "tcp")]).unwrap().protocol,
            Some(Protocol::Tcp)
        );
        assert_eq!(
            parse(&[("protocol", "UDP")]).unwrap().protocol,
            Some(Protocol::Udp)
        );
        assert_eq!(
            parse(&[("protocol", "icmp")]).unwrap().protocol,
            Some(Protocol::Icmp)
        );
        assert_eq!(
            parse(&[("protocol", "icmpv6")]).unwrap().protocol,
            Some(Protocol::Icmpv6)
        );
        assert_eq!(
            parse(&[("protocol", "sctp")]).unwrap().protocol,
            Some(Protocol::Sctp)
        );
        assert_eq!(
            parse(&[("protocol", "6")]).unwrap().protocol,
            Some(Protocol::Tcp)
        );
        assert_eq!(
            parse(&[("protocol", "47")]).unwrap().protocol,
            Some(Protocol::Other(47))
        );
    }

    #[test]
    fn protocol_that_is_unknown_or_out_of_range_is_rejected() {
        let expected = r#"protocol: "gre" is not a protocol (tcp, udp, icmp, icmpv6, sctp, or a number 0-255)"#;
        assert_eq!(error(&[("protocol", "gre")]), expected);
        assert_eq!(
            error(&[("protocol", "256")]),
            r#"protocol: "256" is not a protocol (tcp, udp, icmp, icmpv6, sctp, or a number 0-255)"#
        );
    }

    #[test]
    fn status_accepts_one_status_or_a_comma_separated_list() {
        assert_eq!(
            parse(&[("status", "active")]).unwrap().statuses,
            Some(vec![FlowStatus::Active])
        );
        assert_eq!(
            parse(&[("status", "closed,reset,refused,timeout")])
                .unwrap()
                .statuses,
            Some(vec![
                FlowStatus::Closed,
                FlowStatus::Reset,
                FlowStatus::Refused,
                FlowStatus::Timeout
            ])
        );
    }

    #[test]
    fn status_names_the_bad_item_of_a_list() {
        assert_eq!(
            error(&[("status", "closed,open")]),
            r#"status: "open" is not a flow status (active, closed, reset, refused, timeout; comma-separated for several)"#
        );
        assert_eq!(
            error(&[("status", "closed,")]),
            r#"status: "" is not a flow status (active, closed, reset, refused, timeout; comma-separated for several)"#
        );
    }

    #[test]
    fn follow_accepts_true_and_false_only() {
        assert!(parse(&[("follow", "true")]).unwrap().follow);
        assert!(!parse(&[("follow", "false")]).unwrap().follow);
        assert_eq!(
            error(&[("follow", "yes")]),
            r#"follow: "yes" is not a boolean (true or false)"#
        );
    }

    #[test]
    fn limit_accepts_positive_integers_only() {
        assert_eq!(parse(&[("limit", "5")]).unwrap().limit, Some(5));
        assert_eq!(
            error(&[("limit", "0")]),
            r#"limit: "0" is not a positive integer (1 or more)"#
        );
        assert_eq!(
            error(&[("limit", "-1")]),
            r#"limit: "-1" is not a positive integer (1 or more)"#
        );
        assert_eq!(
            error(&[("limit", "ten")]),
            r#"limit: "ten" is not a positive integer (1 or more)"#
        );
    }

    #[test]
    fn limit_with_follow_is_rejected() {
        assert_eq!(
            error(&[("follow", "true"), ("limit", "5")]),
            "limit: cannot be combined with follow=true (a follow stream only sends new events)"
        );
        assert_eq!(
            parse(&[("follow", "false"), ("limit", "5")]).unwrap().limit,
            Some(5)
        );
    }

    #[test]
    fn an_unknown_parameter_is_rejected_by_name() {
        assert_eq!(
            error(&[("source_ip", "10.0.0.1")]),
            "source_ip: unknown parameter (known: ip, port, protocol, app_protocol, status, \
             pod, namespace, workload, service, node (either end), ip, port and the names also \
             with a src_ or dst_ prefix, every filter also with a not_ prefix, since, follow, \
             limit)"
        );
    }

    #[test]
    fn a_repeated_unknown_parameter_is_reported_as_unknown() {
        assert_eq!(
            error(&[("peer", "a"), ("peer", "b")]),
            "peer: unknown parameter (known: ip, port, protocol, app_protocol, status, \
             pod, namespace, workload, service, node (either end), ip, port and the names also \
             with a src_ or dst_ prefix, every filter also with a not_ prefix, since, follow, \
             limit)"
        );
    }

    #[test]
    fn a_repeated_parameter_is_rejected() {
        assert_eq!(
            error(&[("port", "80"), ("port", "443")]),
            "port: given more than once; give it once"
        );
        assert_eq!(
            error(&[("status", "active"), ("status", "closed")]),
            "status: given more than once; give it once (use a comma-separated list for several statuses)"
        );
    }

    #[test]
    fn an_undecodable_query_says_so() {
        assert_eq!(
            QueryError::Undecodable("bad escape".into()).to_string(),
            "query string could not be decoded: bad escape"
        );
    }

    #[test]
    fn ip_filter_matches_either_end() {
        let query = parse(&[("ip", "10.0.0.2")]).unwrap();
        assert!(query.matches(&view(1, "10.0.0.1", 1000, "10.0.0.2", 80)));
        assert!(query.matches(&view(2, "10.0.0.2", 1000, "10.0.0.3", 80)));
        assert!(!query.matches(&view(3, "10.0.0.1", 1000, "10.0.0.3", 80)));
    }

    #[test]
    fn port_filter_matches_either_end() {
        let query = parse(&[("port", "80")]).unwrap();
        assert!(query.matches(&view(1, "10.0.0.1", 1000, "10.0.0.2", 80)));
        assert!(query.matches(&view(2, "10.0.0.1", 80, "10.0.0.2", 1000)));
        assert!(!query.matches(&view(3, "10.0.0.1", 1000, "10.0.0.2", 443)));
    }

    #[test]
    fn ip_and_port_filters_also_match_translated_addresses() {
        let mut flow = view(1, "10.0.0.1", 40000, "10.96.0.10", 80);
        flow.translated.dst_translated_ip = Some("10.0.0.2".parse().unwrap());
        flow.translated.dst_translated_port = Some(8080);
        flow.translated.src_translated_ip = Some("192.0.2.1".parse().unwrap());
        flow.translated.src_translated_port = Some(61000);
        for (name, value) in [
            ("ip", "10.96.0.10"),
            ("ip", "10.0.0.2"),
            ("ip", "192.0.2.1"),
            ("port", "8080"),
            ("port", "61000"),
        ] {
            assert!(
                parse(&[(name, value)]).unwrap().matches(&flow),
                "{name}={value}"
            );
        }
        assert!(!parse(&[("ip", "10.0.0.3")]).unwrap().matches(&flow));
        assert!(!parse(&[("port", "8081")]).unwrap().matches(&flow));
    }

    #[test]
    fn protocol_filter_compares_protocol_numbers() {
        let mut udp = view(1, "10.0.0.1", 1000, "10.0.0.2", 53);
        udp.protocol = "udp";
        udp.protocol_number = 17;
        assert!(parse(&[("protocol", "17")]).unwrap().matches(&udp));
        assert!(parse(&[("protocol", "udp")]).unwrap().matches(&udp));
        assert!(!parse(&[("protocol", "tcp")]).unwrap().matches(&udp));
    }

    #[test]
    fn status_filter_matches_any_listed_status() {
        let mut closed = view(1, "10.0.0.1", 1000, "10.0.0.2", 80);
        closed.status = FlowStatus::Closed;
        assert!(parse(&[("status", "reset,closed")])
            .unwrap()
            .matches(&closed));
        assert!(!parse(&[("status", "active")]).unwrap().matches(&closed));
    }

    #[test]
    fn select_sorts_by_first_seen_then_id_and_keeps_the_newest_limit() {
        let mut flows = vec![
            view(3, "10.0.0.1", 1, "10.0.0.2", 80),
            view(1, "10.0.0.1", 2, "10.0.0.2", 80),
            view(2, "10.0.0.1", 3, "10.0.0.2", 80),
        ];
        flows[0].first_seen_ns = 100;
        flows[1].first_seen_ns = 200;
        flows[2].first_seen_ns = 100;
        let ids = |flows: Vec<FlowView>| flows.iter().map(|f| f.id).collect::<Vec<_>>();
        assert_eq!(
            ids(FlowQuery::default().select(flows.clone())),
            vec![2, 3, 1]
        );
        let newest_two = parse(&[("limit", "2")]).unwrap();
        assert_eq!(ids(newest_two.select(flows.clone())), vec![3, 1]);
        let more_than_there_are = parse(&[("limit", "10")]).unwrap();
        assert_eq!(ids(more_than_there_are.select(flows)), vec![2, 3, 1]);
    }

    /// Four flows between three hosts, for the filters below.
    fn fleet() -> Vec<FlowView> {
        let mut web = view(1, "10.0.0.1", 40000, "10.0.0.2", 80);
        web.last_seen_ns = 1_000;
        let mut dns = view(2, "10.0.0.1", 53000, "10.0.0.53", 53);
        dns.protocol = "udp";
        dns.protocol_number = 17;
        dns.last_seen_ns = 2_000;
        dns.names.src_namespace = Some("shop".into());
        dns.names.dst_namespace = Some("kube-system".into());
        let mut back = view(3, "10.0.0.2", 80, "10.0.0.1", 40001);
        back.status = FlowStatus::Closed;
        back.last_seen_ns = 3_000;
        let mut service = view(4, "10.0.0.3", 40002, "10.96.0.10", 443);
        service.translated.dst_translated_ip = Some("10.0.0.2".parse().unwrap());
        service.translated.dst_translated_port = Some(8443);
        service.last_seen_ns = 4_000;
        vec![web, dns, back, service]
    }

    fn selected(pairs: &[(&str, &str)]) -> Vec<u64> {
        let query = parse(pairs).unwrap();
        fleet()
            .iter()
            .filter(|f| query.matches_at(f, 5_000))
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn src_and_dst_ip_match_one_end_only() {
        assert_eq!(selected(&[("src_ip", "10.0.0.1")]), vec![1, 2]);
        assert_eq!(selected(&[("dst_ip", "10.0.0.1")]), vec![3]);
        assert_eq!(selected(&[("ip", "10.0.0.1")]), vec![1, 2, 3]);
        assert_eq!(
            selected(&[("dst_ip", "10.0.0.2")]),
            vec![1, 4],
            "the backend DNAT chose is a destination too"
        );
        assert_eq!(
            parse(&[("src_ip", "::ffff:10.0.0.1")]).unwrap().src_ip,
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn src_and_dst_port_match_one_end_only() {
        assert_eq!(selected(&[("src_port", "80")]), vec![3]);
        assert_eq!(selected(&[("dst_port", "80")]), vec![1]);
        assert_eq!(selected(&[("port", "80")]), vec![1, 3]);
        assert_eq!(selected(&[("dst_port", "8443")]), vec![4]);
        assert_eq!(
            selected(&[("src_port", "53000"), ("dst_port", "53")]),
            vec![2]
        );
        assert_eq!(
            error(&[("src_port", "http")]),
            r#"src_port: "http" is not a port number (0-65535)"#
        );
        assert_eq!(
            error(&[("dst_ip", "10.0.0.256")]),
            r#"dst_ip: "10.0.0.256" is not an IPv4 or IPv6 address"#
        );
    }

    #[test]
    fn a_not_filter_keeps_exactly_the_flows_the_filter_would_drop() {
        assert_eq!(selected(&[("not_port", "53")]), vec![1, 3, 4]);
        assert_eq!(selected(&[("not_ip", "10.0.0.1")]), vec![4]);
        assert_eq!(selected(&[("not_src_ip", "10.0.0.1")]), vec![3, 4]);
        assert_eq!(selected(&[("not_dst_port", "80")]), vec![2, 3, 4]);
        assert_eq!(selected(&[("not_protocol", "tcp")]), vec![2]);
        assert_eq!(selected(&[("not_status", "closed,reset")]), vec![1, 2, 4]);
        assert_eq!(
            selected(&[("not_app_protocol", "unknown")]),
            Vec::<u64>::new()
        );
        assert_eq!(selected(&[("not_namespace", "kube-system")]), vec![1, 3, 4]);
        assert_eq!(selected(&[("not_src_namespace", "shop")]), vec![1, 3, 4]);
        assert_eq!(
            selected(&[("not_dst_namespace", "shop")]),
            vec![1, 2, 3, 4],
            "shop is only the source"
        );
    }

    #[test]
    fn not_filters_combine_with_each_other_and_with_plain_filters() {
        assert_eq!(
            selected(&[("not_port", "53"), ("not_status", "closed")]),
            vec![1, 4]
        );
        assert_eq!(selected(&[("ip", "10.0.0.1"), ("not_port", "80")]), vec![2]);
        assert_eq!(
            selected(&[("port", "80"), ("not_port", "80")]),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn a_bad_not_filter_is_named_as_given() {
        assert_eq!(
            error(&[("not_port", "abc")]),
            r#"not_port: "abc" is not a port number (0-65535)"#
        );
        assert_eq!(
            error(&[("not_status", "open")]),
            r#"not_status: "open" is not a flow status (active, closed, reset, refused, timeout; comma-separated for several)"#
        );
        assert_eq!(
            error(&[("not_protocol", "gre")]),
            r#"not_protocol: "gre" is not a protocol (tcp, udp, icmp, icmpv6, sctp, or a number 0-255)"#
        );
        assert_eq!(
            error(&[("not_pod", "")]),
            "not_pod: needs a value (a Kubernetes name)"
        );
        assert!(error(&[("not_follow", "true")]).starts_with("not_follow: unknown parameter"));
        assert!(error(&[("not_not_port", "1")]).starts_with("not_not_port: unknown parameter"));
        assert_eq!(
            error(&[("not_port", "53"), ("not_port", "80")]),
            "not_port: given more than once; give it once"
        );
    }

    #[test]
    fn since_as_a_duration_counts_back_from_now() {
        assert_eq!(
            parse(&[("since", "5m")]).unwrap().since,
            Some(Since::Ago(Duration::from_secs(300)))
        );
        // now = 5_000 ns: 2.5 µs back keeps what was seen at 2_500 or later.
        assert_eq!(selected(&[("since", "2500ns")]), vec![3, 4]);
        assert_eq!(
            selected(&[("since", "3us")]),
            vec![2, 3, 4],
            "at 2_000: included"
        );
        assert_eq!(selected(&[("since", "1h")]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn since_as_a_time_keeps_flows_seen_at_or_after_it() {
        assert_eq!(
            parse(&[("since", "2026-12-03T17:00:00Z")]).unwrap().since,
            Some(Since::At(1_796_317_200_000_000_000))
        );
        assert_eq!(
            parse(&[("since", "2026-12-03T18:00:00.5+01:00")])
                .unwrap()
                .since,
            Some(Since::At(1_796_317_200_500_000_000)),
            "a numeric offset is east of UTC"
        );
        assert_eq!(
            parse(&[("since", "2026-12-03T12:00:00-05:00")])
                .unwrap()
                .since,
            Some(Since::At(1_796_317_200_000_000_000))
        );
        assert_eq!(
            selected(&[("since", "1970-01-01T00:00:00.000003Z")]),
            vec![3, 4]
        );
    }

    #[test]
    fn since_that_is_neither_a_duration_nor_a_time_is_rejected() {
        let message = |value: &str| {
            format!(
                "since: {value:?} is not a duration such as 30s, 5m or 1h30m, or an RFC 3339 \
                 time such as 2026-12-03T17:00:00Z"
            )
        };
        for bad in [
            "30",
            "yesterday",
            "2026-12-03",
            "2026-12-03T17:00:00+25:00",
            "5 parsecs",
            "",
        ] {
            assert_eq!(error(&[("since", bad)]), message(bad), "since={bad}");
        }
    }

    #[test]
    fn since_works_with_follow_and_limit_with_follow_still_does_not() {
        let query = parse(&[("follow", "true"), ("since", "10s")]).unwrap();
        assert!(query.follow);
        assert_eq!(query.since, Some(Since::Ago(Duration::from_secs(10))));
    }
}
