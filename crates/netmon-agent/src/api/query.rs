//! Parsing and applying the query parameters of `GET /api/v1/flows`.
//!
//! Parsed by hand rather than with a serde struct: serde's messages name
//! Rust types, not parameters, and an unknown parameter would be silently
//! ignored. Here every rejection says which parameter, what was given and
//! what is accepted.

use std::net::IpAddr;

use thiserror::Error;

use super::names::FlowNames;
use super::view::FlowView;
use crate::flow::{FlowStatus, Protocol};
use crate::l7::AppProtocol;

const PARAMETERS: &str = "ip, port, protocol, app_protocol, status, follow, limit, \
     pod, namespace, workload, service, node (either end), and each of those with a src_ or dst_ prefix";
const PROTOCOLS: &str = "tcp, udp, icmp, icmpv6, sctp, or a number 0-255";
const APP_PROTOCOLS: &str = "http, http2, grpc, tls, dns, redis, mysql, postgresql, or unknown";
const STATUSES: &str = "active, closed, reset, refused, timeout";
const ALL_STATUSES: [FlowStatus; 5] = [
    FlowStatus::Active,
    FlowStatus::Closed,
    FlowStatus::Reset,
    FlowStatus::Refused,
    FlowStatus::Timeout,
];

/// A rejected query; the message is returned to the client as `{"error": ...}`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("{0}: unknown parameter (known: {PARAMETERS})")]
    UnknownParameter(String),
    #[error("{name}: given more than once; give it once{hint}")]
    Repeated { name: String, hint: &'static str },
    #[error("ip: {0:?} is not an IPv4 or IPv6 address")]
    BadIp(String),
    #[error("port: {0:?} is not a port number (0-65535)")]
    BadPort(String),
    #[error("protocol: {0:?} is not a protocol ({PROTOCOLS})")]
    BadProtocol(String),
    #[error("app_protocol: {0:?} is not an application protocol ({APP_PROTOCOLS})")]
    BadAppProtocol(String),
    #[error("status: {0:?} is not a flow status ({STATUSES}; comma-separated for several)")]
    BadStatus(String),
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
    /// Either end's port equals this.
    pub port: Option<u16>,
    pub protocol: Option<Protocol>,
    /// The flow's application protocol: `Some(None)` asks for the flows
    /// none was recognised in (`app_protocol=unknown`).
    pub app_protocol: Option<Option<AppProtocol>>,
    /// The flow's status is one of these.
    pub statuses: Option<Vec<FlowStatus>>,
    pub follow: bool,
    /// Keep only the newest `limit` flows after sorting.
    pub limit: Option<usize>,
    /// Kubernetes names the flow's ends must have, all of them.
    pub names: Vec<NameFilter>,
}

/// Which end of a flow a name filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Either,
    Src,
    Dst,
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
    /// The filter a parameter name stands for, if it is a name filter.
    fn parameter(name: &str) -> Option<(End, NameField)> {
        let (end, field) = match name.split_once('_') {
            Some(("src", field)) => (End::Src, field),
            Some(("dst", field)) => (End::Dst, field),
            _ => (End::Either, name),
        };
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
                let hint = if name == "status" {
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
                "ip" => query.ip = Some(parse_ip(value)?),
                "port" => query.port = Some(parse_port(value)?),
                "protocol" => query.protocol = Some(parse_protocol(value)?),
                "app_protocol" => query.app_protocol = Some(parse_app_protocol(value)?),
                "status" => query.statuses = Some(parse_statuses(value)?),
                "follow" => query.follow = parse_follow(value)?,
                "limit" => query.limit = Some(parse_limit(value)?),
                _ => match NameFilter::parameter(name) {
                    Some(_) if value.is_empty() => {
                        return Err(QueryError::EmptyName(name.to_owned()))
                    }
                    Some((end, field)) => query.names.push(NameFilter {
                        end,
                        field,
                        value: value.to_owned(),
                    }),
                    None => return Err(QueryError::UnknownParameter(name.to_owned())),
                },
            }
            seen.push(name.to_owned());
        }
        if query.follow && query.limit.is_some() {
            return Err(QueryError::LimitWithFollow);
        }
        Ok(query)
    }

    /// Whether `flow` passes every filter. `ip` and `port` match either
    /// end as the initiator addressed it or as translation changed it, so
    /// a Service's backend finds the connections made to the Service.
    pub fn matches(&self, flow: &FlowView) -> bool {
        let translated = &flow.translated;
        self.ip.is_none_or(|ip| {
            [flow.src_ip, flow.dst_ip].contains(&ip)
                || [translated.src_translated_ip, translated.dst_translated_ip].contains(&Some(ip))
        }) && self.port.is_none_or(|port| {
            [flow.src_port, flow.dst_port].contains(&port)
                || [
                    translated.src_translated_port,
                    translated.dst_translated_port,
                ]
                .contains(&Some(port))
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
    }

    /// The response of a non-follow request: matching flows, oldest first
    /// (by `first_seen`, then id), cut to the newest `limit`.
    pub fn select(&self, flows: Vec<FlowView>) -> Vec<FlowView> {
        let mut selected: Vec<FlowView> = flows.into_iter().filter(|f| self.matches(f)).collect();
        selected.sort_by_key(|f| (f.first_seen_ns, f.id));
        if let Some(limit) = self.limit {
            let excess = selected.len().saturating_sub(limit);
            selected.drain(..excess);
        }
        selected
    }
}

fn parse_app_protocol(value: &str) -> Result<Option<AppProtocol>, QueryError> {
    let lower = value.to_ascii_lowercase();
    if lower == "unknown" {
        return Ok(None);
    }
    AppProtocol::from_name(&lower)
        .map(Some)
        .ok_or_else(|| QueryError::BadAppProtocol(value.to_owned()))
}

fn parse_ip(value: &str) -> Result<IpAddr, QueryError> {
    value
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| QueryError::BadIp(value.to_owned()))
}

/// Only plain digits: `str::parse` would also take "+80".
fn parse_digits<T: std::str::FromStr>(value: &str) -> Option<T> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_port(value: &str) -> Result<u16, QueryError> {
    parse_digits(value).ok_or_else(|| QueryError::BadPort(value.to_owned()))
}

fn parse_protocol(value: &str) -> Result<Protocol, QueryError> {
    if let Some(number) = parse_digits::<u8>(value) {
        return Ok(Protocol::from_number(number));
    }
    match value.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "icmp" => Ok(Protocol::Icmp),
        "icmpv6" => Ok(Protocol::Icmpv6),
        "sctp" => Ok(Protocol::Sctp),
        _ => Err(QueryError::BadProtocol(value.to_owned())),
    }
}

fn parse_statuses(value: &str) -> Result<Vec<FlowStatus>, QueryError> {
    value
        .split(',')
        .map(|item| {
            ALL_STATUSES
                .into_iter()
                .find(|status| status.name() == item)
                .ok_or_else(|| QueryError::BadStatus(item.to_owned()))
        })
        .collect()
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
        assert!(error(&[("src_ip", "x")]).starts_with("src_ip: unknown parameter"));
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
            error(&[("src_ip", "10.0.0.1")]),
            "src_ip: unknown parameter (known: ip, port, protocol, app_protocol, status, follow, limit, \
             pod, namespace, workload, service, node (either end), and each of those with a \
             src_ or dst_ prefix)"
        );
    }

    #[test]
    fn a_repeated_unknown_parameter_is_reported_as_unknown() {
        assert_eq!(
            error(&[("peer", "a"), ("peer", "b")]),
            "peer: unknown parameter (known: ip, port, protocol, app_protocol, status, follow, limit, \
             pod, namespace, workload, service, node (either end), and each of those with a \
             src_ or dst_ prefix)"
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
}
