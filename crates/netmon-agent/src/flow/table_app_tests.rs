use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;
use crate::flow::app::{AppUpdate, DnsTransaction};
use crate::flow::model::{DirectionalKey, Endpoint, FlowDelta, Protocol};
use crate::flow::record::{Counters, FlowChangeKind};
use crate::flow::FlowTableConfig;
use crate::l7::{AppFields, AppProtocol};

fn end(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

fn key(src: Endpoint, dst: Endpoint) -> DirectionalKey {
    DirectionalKey {
        src,
        dst,
        protocol: Protocol::Tcp,
    }
}

fn table_with_connection() -> FlowTable {
    let mut table = FlowTable::new(FlowTableConfig {
        max_flows: 10,
        flow_timeout: Duration::from_secs(60),
        closed_retention: Duration::from_secs(60),
    });
    let delta = FlowDelta {
        key: key(end(1, 40000), end(2, 80)),
        bytes: 74,
        packets: 1,
        first_seen: 1_000,
        last_seen: 1_000,
        tcp_flags: crate::flow::tcp_flags::SYN | crate::flow::tcp_flags::SYN_ONLY,
        ifindex: 1,
        icmp: None,
    };
    table.apply_deltas_with_nat(&[delta], &NatTable::new(16), 1_000);
    table.take_changes();
    table
}

fn http(method: Option<&str>, status: Option<u16>) -> AppUpdate {
    AppUpdate::Protocol {
        protocol: AppProtocol::Http,
        fields: AppFields {
            http_method: method.map(String::from),
            http_status: status,
            ..AppFields::default()
        },
    }
}

fn observation(key: DirectionalKey, update: AppUpdate) -> AppObservation {
    AppObservation {
        key,
        update,
        misses: 0,
    }
}

#[test]
fn findings_of_both_directions_merge_into_the_one_record_with_one_change() {
    let mut table = table_with_connection();
    let missed = table.apply_app(
        vec![
            observation(key(end(1, 40000), end(2, 80)), http(Some("GET"), None)),
            observation(key(end(2, 80), end(1, 40000)), http(None, Some(200))),
        ],
        &NatTable::new(16),
        2_000,
    );
    assert!(missed.is_empty());
    let changes = table.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, FlowChangeKind::Updated);
    assert_eq!(changes[0].added_tx, Counters::default());
    let app = changes[0].record.app().unwrap();
    assert_eq!(app.protocol, Some(AppProtocol::Http));
    assert_eq!(app.fields.http_method.as_deref(), Some("GET"));
    assert_eq!(app.fields.http_status, Some(200));
}

#[test]
fn a_finding_without_a_record_is_handed_back_and_creates_nothing() {
    let mut table = table_with_connection();
    let stray = observation(key(end(7, 1), end(8, 2)), http(Some("GET"), None));
    let missed = table.apply_app(vec![stray.clone()], &NatTable::new(16), 2_000);
    assert_eq!(missed, vec![stray]);
    assert_eq!(table.stats().flows, 1);
    assert!(table.take_changes().is_empty());
}

#[test]
fn dns_transactions_count_and_the_latest_is_kept() {
    let mut table = table_with_connection();
    let k = key(end(1, 40000), end(2, 80));
    let transaction = |name: &str| {
        AppUpdate::Dns(DnsTransaction {
            name: name.into(),
            qtype: 1,
            rcode: Some(0),
            latency_ns: Some(5),
        })
    };
    table.apply_app(
        vec![
            observation(k, transaction("a.test")),
            observation(k, transaction("b.test")),
        ],
        &NatTable::new(16),
        2_000,
    );
    let record = table.records().next().unwrap();
    let app = record.app().unwrap();
    assert_eq!(app.dns_transactions, 2);
    assert_eq!(app.dns.as_ref().unwrap().name, "b.test");
}

#[test]
fn a_finding_that_changes_nothing_reports_no_change_and_grpc_is_not_downgraded() {
    let mut table = table_with_connection();
    let k = key(end(1, 40000), end(2, 80));
    let grpc = AppUpdate::Protocol {
        protocol: AppProtocol::Grpc,
        fields: AppFields::default(),
    };
    let http2 = AppUpdate::Protocol {
        protocol: AppProtocol::Http2,
        fields: AppFields::default(),
    };
    table.apply_app(
        vec![observation(k, grpc.clone())],
        &NatTable::new(16),
        2_000,
    );
    table.take_changes();
    table.apply_app(
        vec![observation(k, grpc), observation(k, http2)],
        &NatTable::new(16),
        3_000,
    );
    assert!(table.take_changes().is_empty());
    let record = table.records().next().unwrap();
    assert_eq!(record.app().unwrap().protocol, Some(AppProtocol::Grpc));
}
