use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::l7::dns::{DnsAnswer, DnsQuestion};

const MS: u64 = 1_000_000;

fn end(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

fn client() -> Endpoint {
    end(1, 40000)
}

fn key(src: Endpoint, dst: Endpoint) -> DirectionalKey {
    DirectionalKey {
        src,
        dst,
        protocol: Protocol::Udp,
    }
}

fn query(id: u16, name: &str, qtype: u16) -> DnsMessage {
    DnsMessage {
        id,
        is_response: false,
        opcode: 0,
        rcode: 0,
        truncated_flag: false,
        question: Some(DnsQuestion {
            name: name.into(),
            qtype,
            qclass: 1,
        }),
        answers: Vec::new(),
        truncated_capture: false,
    }
}

fn response(id: u16, name: &str, qtype: u16, rcode: u8, answers: Vec<DnsAnswer>) -> DnsMessage {
    DnsMessage {
        is_response: true,
        rcode,
        answers,
        ..query(id, name, qtype)
    }
}

fn a(name: &str, last: u8, ttl: u32) -> DnsAnswer {
    DnsAnswer {
        name: name.into(),
        ttl,
        data: DnsRecordData::A(Ipv4Addr::new(10, 9, 0, last)),
    }
}

fn tracker() -> DnsTracker {
    DnsTracker::new(Duration::from_secs(5), 100)
}

#[test]
fn a_response_completes_its_query_with_the_kernel_measured_latency() {
    let mut t = tracker();
    let server = end(53, 53);
    assert!(t
        .observe(key(client(), server), &query(7, "svc.test", 1), 1_000 * MS)
        .is_none());
    let done = t
        .observe(
            key(server, client()),
            &response(7, "svc.test", 1, 0, vec![a("svc.test", 5, 30)]),
            1_000 * MS + 412_000,
        )
        .unwrap();
    assert_eq!(done.key, key(client(), server));
    assert_eq!(
        done.transaction,
        DnsTransaction {
            name: "svc.test".into(),
            qtype: 1,
            rcode: Some(0),
            latency_ns: Some(412_000),
        }
    );
    assert_eq!(done.addresses, vec![("10.9.0.5".parse().unwrap(), 30)]);
    assert_eq!(t.stats().pending, 0);
}

#[test]
fn a_response_from_another_address_than_the_query_went_to_still_matches() {
    // The query went to a Service's cluster IP, the answer comes from the
    // backend pod (sampled before un-NAT).
    let mut t = tracker();
    t.observe(key(client(), end(96, 53)), &query(9, "x.test", 28), 0);
    let done = t
        .observe(
            key(end(20, 53), client()),
            &response(9, "x.test", 28, 3, vec![]),
            2 * MS,
        )
        .unwrap();
    assert_eq!(done.key, key(client(), end(96, 53)));
    assert_eq!(done.transaction.rcode, Some(3));
    assert_eq!(done.transaction.latency_ns, Some(2 * MS));
}

#[test]
fn addresses_reached_through_a_cname_belong_to_the_queried_name_and_others_do_not() {
    let mut t = tracker();
    let server = end(53, 53);
    t.observe(key(client(), server), &query(1, "www.test", 1), 0);
    let answers = vec![
        DnsAnswer {
            name: "www.test".into(),
            ttl: 60,
            data: DnsRecordData::Cname("edge.cdn.test".into()),
        },
        a("edge.cdn.test", 7, 20),
        a("unrelated.test", 8, 20),
    ];
    let done = t
        .observe(
            key(server, client()),
            &response(1, "www.test", 1, 0, answers),
            MS,
        )
        .unwrap();
    assert_eq!(done.addresses, vec![("10.9.0.7".parse().unwrap(), 20)]);
}

#[test]
fn a_response_whose_query_was_not_seen_counts_without_latency() {
    let mut t = tracker();
    let server = end(53, 53);
    let done = t
        .observe(
            key(server, client()),
            &response(3, "late.test", 1, 0, vec![]),
            MS,
        )
        .unwrap();
    assert_eq!(done.key, key(client(), server));
    assert_eq!(done.transaction.latency_ns, None);
}

#[test]
fn an_unanswered_query_times_out_once_and_a_retransmission_keeps_the_first_time() {
    let mut t = tracker();
    let server = end(53, 53);
    t.observe(key(client(), server), &query(5, "slow.test", 1), 0);
    t.observe(key(client(), server), &query(5, "slow.test", 1), 1_000 * MS);
    assert!(t.expire(4_999 * MS).is_empty());
    let expired = t.expire(5_000 * MS);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].transaction.rcode, None);
    assert_eq!(expired[0].transaction.name, "slow.test");
    assert!(t.expire(20_000 * MS).is_empty());
}

#[test]
fn a_query_answered_in_time_never_times_out() {
    let mut t = tracker();
    let server = end(53, 53);
    t.observe(key(client(), server), &query(5, "ok.test", 1), 0);
    t.observe(
        key(server, client()),
        &response(5, "ok.test", 1, 0, vec![]),
        MS,
    );
    // The same id reused later is a new query with its own deadline.
    t.observe(key(client(), server), &query(5, "ok.test", 1), 3_000 * MS);
    assert!(t.expire(5_000 * MS).is_empty());
    assert_eq!(t.expire(8_000 * MS).len(), 1);
}

#[test]
fn queries_beyond_max_pending_are_counted_and_not_tracked() {
    let mut t = DnsTracker::new(Duration::from_secs(5), 2);
    for id in 0..3 {
        t.observe(key(client(), end(53, 53)), &query(id, "n.test", 1), 0);
    }
    assert_eq!(
        t.stats(),
        DnsTrackerStats {
            pending_dropped: 1,
            pending: 2
        }
    );
}

proptest! {
    #[test]
    fn every_query_completes_exactly_once_answered_or_timed_out(
        answered in proptest::collection::vec(any::<bool>(), 1..50),
    ) {
        let mut t = DnsTracker::new(Duration::from_secs(5), 1000);
        let server = end(53, 53);
        let mut completed = 0;
        for (i, answer) in answered.iter().enumerate() {
            let c = end(1, 1000 + i as u16);
            t.observe(key(c, server), &query(i as u16, "p.test", 1), i as u64 * MS);
            if *answer {
                completed += t
                    .observe(key(server, c), &response(i as u16, "p.test", 1, 0, vec![]), (i as u64 + 1) * MS)
                    .is_some() as usize;
            }
        }
        completed += t.expire(u64::MAX / 2).len();
        prop_assert_eq!(completed, answered.len());
        prop_assert_eq!(t.stats().pending, 0);
    }
}
