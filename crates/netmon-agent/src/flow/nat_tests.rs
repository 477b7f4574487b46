use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;
use crate::flow::model::Protocol;

fn ep(host: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
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

/// Client 10.0.0.1:40000 → Service 10.0.0.100:80, DNAT to 10.0.0.2:8080.
fn dnat() -> NatBinding {
    NatBinding::translated(
        key(ep(1, 40000), ep(100, 80)),
        key(ep(2, 8080), ep(1, 40000)),
    )
    .unwrap()
}

/// Client 10.0.0.1:40000 → 10.0.0.2:443, SNAT to 10.0.0.254:61000.
fn snat() -> NatBinding {
    NatBinding::translated(
        key(ep(1, 40000), ep(2, 443)),
        key(ep(2, 443), ep(254, 61000)),
    )
    .unwrap()
}

#[test]
fn an_entry_whose_reply_is_its_original_reversed_is_not_translated() {
    let original = key(ep(1, 40000), ep(2, 80));
    assert_eq!(NatBinding::translated(original, original.reversed()), None);
    let mut udp_reply = dnat().reply;
    udp_reply.protocol = Protocol::Udp;
    assert_eq!(
        NatBinding::translated(dnat().original, udp_reply),
        None,
        "tuples of different protocols are not one connection"
    );
}

#[test]
fn the_four_keys_of_a_translated_connection_attribute_to_its_original_orientation() {
    let mut nat = NatTable::new(10);
    let binding = dnat();
    assert_eq!(nat.insert(binding), Inserted::New);
    let original = binding.original;
    for (seen, expected) in [
        (original, original),
        (binding.reply, original.reversed()),
        (binding.reply.reversed(), original),
        (original.reversed(), original.reversed()),
    ] {
        assert_eq!(
            nat.attribute(&seen),
            Some((expected, &binding)),
            "seen as {seen:?}"
        );
    }
    assert_eq!(nat.attribute(&key(ep(1, 40001), ep(100, 80))), None);
}

#[test]
fn real_and_translated_ends_follow_dnat_and_snat() {
    let d = dnat();
    assert_eq!(d.real(ep(100, 80)), ep(2, 8080), "the backend DNAT chose");
    assert_eq!(d.real(ep(1, 40000)), ep(1, 40000));
    assert_eq!(d.translated_end(ep(100, 80)), Some(ep(2, 8080)));
    assert_eq!(d.translated_end(ep(1, 40000)), None, "the source is as is");

    let s = snat();
    assert_eq!(s.real(ep(1, 40000)), ep(1, 40000), "SNAT hides, not moves");
    assert_eq!(s.real(ep(2, 443)), ep(2, 443));
    assert_eq!(s.translated_end(ep(1, 40000)), Some(ep(254, 61000)));
    assert_eq!(s.translated_end(ep(2, 443)), None);
    assert_eq!(s.translated_end(ep(9, 9)), None, "not an end of it");
}

#[test]
fn a_full_table_drops_new_connections_and_counts_them() {
    let mut nat = NatTable::new(1);
    assert_eq!(nat.insert(dnat()), Inserted::New);
    assert_eq!(nat.insert(snat()), Inserted::Dropped);
    assert_eq!(nat.insert(dnat()), Inserted::Replaced, "known ones refresh");
    assert_eq!((nat.len(), nat.dropped_total()), (1, 1));
    assert!(nat.attribute(&snat().reply).is_none());
}

#[test]
fn a_destroyed_connection_attributes_until_the_next_drain_that_began_after_it() {
    let mut nat = NatTable::new(10);
    let first = nat.begin_drain();
    nat.insert(dnat());
    nat.destroy(&dnat().original);
    // The drain that was running when the destroy arrived may have swapped
    // the maps before the last packets: it must not purge.
    nat.purge_destroyed(first);
    assert!(nat.attribute(&dnat().reply).is_some());
    let second = nat.begin_drain();
    nat.purge_destroyed(second);
    assert!(nat.attribute(&dnat().reply).is_none());
    assert!(nat.is_empty());
}

#[test]
fn a_new_connection_on_a_destroyed_tuple_is_live_again() {
    let mut nat = NatTable::new(10);
    nat.insert(dnat());
    nat.destroy(&dnat().original);
    nat.insert(dnat());
    let generation = nat.begin_drain();
    nat.purge_destroyed(generation);
    assert_eq!(nat.get(&dnat().original), Some(&dnat()));
}

#[test]
fn a_reply_tuple_taken_by_a_new_connection_removes_the_stale_one() {
    let mut nat = NatTable::new(10);
    nat.insert(dnat());
    let mut other = dnat();
    other.original.dst = ep(101, 80);
    assert_eq!(nat.insert(other), Inserted::New);
    assert_eq!(nat.len(), 1);
    assert_eq!(nat.attribute(&dnat().reply).map(|(_, b)| *b), Some(other));
    assert_eq!(nat.get(&dnat().original), None);
}

#[test]
fn a_resync_marks_what_the_dump_no_longer_has_as_destroyed_unless_it_is_newer() {
    let mut nat = NatTable::new(10);
    nat.insert(dnat());
    nat.insert(snat());
    let mark = nat.mark();
    // Seen in an event while the dump ran: newer than the dump.
    let mut newer = dnat();
    newer.original.src.port = 40001;
    newer.reply.dst.port = 40001;
    nat.insert(newer);
    nat.resync([snat()], mark);
    let generation = nat.begin_drain();
    nat.purge_destroyed(generation);
    assert_eq!(nat.len(), 2);
    assert!(nat.get(&snat().original).is_some());
    assert!(nat.get(&newer.original).is_some());
}

// ---------------------------------------------------------------------------
// Properties over random operation sequences.

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (1u8..=4, prop::sample::select(vec![80u16, 8080, 40_000])).prop_map(|(h, p)| ep(h, p))
}

fn binding() -> impl Strategy<Value = NatBinding> {
    (endpoint(), endpoint(), endpoint(), endpoint())
        .prop_filter_map("translated", |(a, b, c, d)| {
            NatBinding::translated(key(a, b), key(c, d))
        })
}

#[derive(Debug, Clone)]
enum Op {
    Insert(NatBinding),
    Destroy(NatBinding),
    Drain,
    Resync(Vec<NatBinding>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => binding().prop_map(Op::Insert),
        2 => binding().prop_map(Op::Destroy),
        2 => Just(Op::Drain),
        1 => prop::collection::vec(binding(), 0..4).prop_map(Op::Resync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_operations_keep_the_table_bounded_and_its_indexes_consistent(
        ops in prop::collection::vec(op(), 1..60),
        max in 1usize..6,
    ) {
        let mut nat = NatTable::new(max);
        let mut attempts_beyond_capacity = 0;
        for op in ops {
            match op {
                Op::Insert(b) => {
                    if nat.insert(b) == Inserted::Dropped {
                        attempts_beyond_capacity += 1;
                    }
                }
                Op::Destroy(b) => nat.destroy(&b.original),
                Op::Drain => {
                    let generation = nat.begin_drain();
                    nat.purge_destroyed(generation);
                }
                Op::Resync(dumped) => {
                    let before = nat.dropped_total();
                    let mark = nat.mark();
                    nat.resync(dumped, mark);
                    attempts_beyond_capacity += nat.dropped_total() - before;
                }
            }
            prop_assert!(nat.len() <= max);
            prop_assert_eq!(nat.by_reply.len(), nat.by_original.len());
            for (original, slot) in &nat.by_original {
                prop_assert_eq!(&slot.binding.original, original);
                prop_assert_eq!(nat.by_reply.get(&slot.binding.reply), Some(original));
                // The original tuple always finds its own connection;
                // every view of it finds a connection (its own unless the
                // view is another connection's tuple), in that connection's
                // original orientation or its reverse.
                let b = slot.binding;
                prop_assert_eq!(nat.attribute(&b.original), Some((b.original, &b)));
                for seen in [b.reply, b.reply.reversed(), b.original.reversed()] {
                    let (attributed, found) = nat.attribute(&seen).expect("held keys attribute");
                    prop_assert!(attributed == found.original || attributed == found.original.reversed());
                }
            }
        }
        prop_assert_eq!(nat.dropped_total(), attempts_beyond_capacity);
    }

    #[test]
    fn attribution_never_changes_a_key_outside_the_table(
        held in prop::collection::vec(binding(), 0..5),
        src in endpoint(),
        dst in endpoint(),
    ) {
        let mut nat = NatTable::new(10);
        for b in &held {
            nat.insert(*b);
        }
        let seen = key(src, dst);
        if let Some((attributed, b)) = nat.attribute(&seen) {
            let views = [b.original, b.reply, b.reply.reversed(), b.original.reversed()];
            prop_assert!(views.contains(&seen), "{seen:?} is a view of {b:?}");
            prop_assert!(attributed == b.original || attributed == b.original.reversed());
        }
    }
}
