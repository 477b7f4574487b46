//! Translated connections (DNAT, SNAT) as conntrack reports them, and the
//! rule that joins the two halves of such a connection into one flow.
//!
//! Netfilter rewrites addresses between the hooks netmon counts at, so one
//! connection reaches the kernel flow maps under two keys. A client pod
//! `a:40000` connecting to a Service `10.96.0.10:80` that the node DNATs to
//! `b:8080` is counted as `a:40000 → 10.96.0.10:80` (the request, at the
//! client's interface, before DNAT) and `b:8080 → a:40000` (the reply, at
//! the backend's interface, before the node translates it back). Conntrack
//! knows both: the *original* tuple (`a:40000 → 10.96.0.10:80`) and the
//! *reply* tuple (`b:8080 → a:40000`).
//!
//! A translated connection can be seen under four keys, depending on where
//! (before or after the translation) a direction was counted:
//!
//! | key seen                | counted as                                   |
//! |-------------------------|----------------------------------------------|
//! | original                | initiator → responder, as is                 |
//! | reply                   | responder → initiator (the reply before un-NAT) |
//! | reply reversed          | initiator → responder (after DNAT/SNAT: local out, or counted at egress) |
//! | original reversed       | responder → initiator (after un-NAT)          |
//!
//! [`NatTable::attribute`] maps each to the original tuple's orientation, so
//! the flow table keys every packet of the connection under the address the
//! initiator used. The table is pure data: the conntrack source fills it,
//! the drain and event loops read it.
//!
//! # Lifetime of an entry
//! Conntrack reports a connection's end (`DESTROY`) after its last packet,
//! but the kernel flow maps are drained only every flush interval: the last
//! packets may still be waiting in a map when the entry goes. An entry is
//! therefore only marked destroyed, and removed by the first drain that
//! *began* after the destroy was seen ([`NatTable::begin_drain`] /
//! [`NatTable::purge_destroyed`]): that drain's map swap happened after the
//! connection's last packet, so it has counted all of them.

use std::collections::HashMap;

use super::model::{DirectionalKey, Endpoint};

/// One translated connection: conntrack's original tuple (initiator →
/// the address it used) and reply tuple (the responder that answered →
/// the address the initiator was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatBinding {
    pub original: DirectionalKey,
    pub reply: DirectionalKey,
}

impl NatBinding {
    /// The binding of a conntrack entry, or `None` when the entry is not
    /// translated (its reply tuple is the original reversed) or its tuples
    /// disagree on the protocol.
    pub fn translated(original: DirectionalKey, reply: DirectionalKey) -> Option<Self> {
        (original.protocol == reply.protocol && reply != original.reversed())
            .then_some(NatBinding { original, reply })
    }

    /// Where the end `end` of the connection really is: the responder DNAT
    /// chose for the address the initiator used; any other end as is (SNAT
    /// only hides the initiator from the responder, it stays the initiator).
    pub fn real(&self, end: Endpoint) -> Endpoint {
        if end == self.original.dst {
            self.reply.src
        } else {
            end
        }
    }

    /// The address the other side saw for `end`, when translation changed
    /// it: the backend for the address the initiator used (DNAT), the
    /// translated source for the initiator (SNAT).
    pub fn translated_end(&self, end: Endpoint) -> Option<Endpoint> {
        let seen = if end == self.original.src {
            self.reply.dst
        } else if end == self.original.dst {
            self.reply.src
        } else {
            return None;
        };
        (seen != end).then_some(seen)
    }
}

/// What [`NatTable::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new translated connection.
    New,
    /// The connection was known (a dump repeating an event, or a new
    /// connection reusing the tuple); its binding was replaced.
    Replaced,
    /// The table was full: the binding was not kept (counted in
    /// [`NatTable::dropped_total`]).
    Dropped,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    binding: NatBinding,
    /// The drain generation in which conntrack reported the end.
    destroyed_in: Option<u64>,
    /// When it was last inserted, in [`NatTable::mark`]'s sequence.
    inserted: u64,
}

/// Translated connections by their original and reply tuples, bounded.
#[derive(Debug, Clone)]
pub struct NatTable {
    max_entries: usize,
    by_original: HashMap<DirectionalKey, Slot>,
    /// Reply tuple → original tuple.
    by_reply: HashMap<DirectionalKey, DirectionalKey>,
    /// Drains begun so far.
    generation: u64,
    /// Inserts so far: orders inserts against a dump (see `resync`).
    inserts: u64,
    dropped_total: u64,
}

impl NatTable {
    /// An empty table that holds at most `max_entries` connections (at
    /// least one).
    pub fn new(max_entries: usize) -> Self {
        NatTable {
            max_entries: max_entries.max(1),
            by_original: HashMap::new(),
            by_reply: HashMap::new(),
            generation: 0,
            inserts: 0,
            dropped_total: 0,
        }
    }

    /// Translated connections held, destroyed ones awaiting their last
    /// drain included.
    pub fn len(&self) -> usize {
        self.by_original.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_original.is_empty()
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Bindings not kept because the table was full.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Adds or replaces a connection (conntrack `NEW`, or a dump entry).
    pub fn insert(&mut self, binding: NatBinding) -> Inserted {
        let known = self.by_original.contains_key(&binding.original);
        // A reply tuple is unique among live conntrack entries: an entry
        // holding it under another original is stale (its DESTROY was lost).
        if let Some(stale) = self.by_reply.get(&binding.reply).copied() {
            if stale != binding.original {
                self.remove(&stale);
            }
        }
        if !known && self.by_original.len() >= self.max_entries {
            self.dropped_total += 1;
            return Inserted::Dropped;
        }
        self.inserts += 1;
        if let Some(previous) = self.by_original.insert(
            binding.original,
            Slot {
                binding,
                destroyed_in: None,
                inserted: self.inserts,
            },
        ) {
            if previous.binding.reply != binding.reply {
                self.by_reply.remove(&previous.binding.reply);
            }
        }
        self.by_reply.insert(binding.reply, binding.original);
        if known {
            Inserted::Replaced
        } else {
            Inserted::New
        }
    }

    /// Marks a connection ended (conntrack `DESTROY`); it keeps attributing
    /// packets until the next drain has counted its last ones.
    pub fn destroy(&mut self, original: &DirectionalKey) {
        if let Some(slot) = self.by_original.get_mut(original) {
            slot.destroyed_in.get_or_insert(self.generation);
        }
    }

    /// A point in the sequence of inserts, taken before a dump starts.
    pub fn mark(&self) -> u64 {
        self.inserts
    }

    /// Brings the content up to a fresh dump (after conntrack events were
    /// lost): connections missing from it that were known at `mark`, when
    /// the dump started, are marked destroyed. Ones inserted since came from
    /// events newer than the dump's start and stay.
    pub fn resync(&mut self, dumped: impl IntoIterator<Item = NatBinding>, mark: u64) {
        let mut seen = std::collections::HashSet::new();
        for binding in dumped {
            seen.insert(binding.original);
            self.insert(binding);
        }
        let generation = self.generation;
        for (original, slot) in &mut self.by_original {
            if slot.inserted <= mark && !seen.contains(original) {
                slot.destroyed_in.get_or_insert(generation);
            }
        }
    }

    /// Call before a drain swaps the kernel flow maps; returns the
    /// generation to pass to [`purge_destroyed`](Self::purge_destroyed)
    /// once the drained deltas are applied.
    pub fn begin_drain(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Removes connections destroyed before the drain of `generation`
    /// began: that drain counted their last packets.
    pub fn purge_destroyed(&mut self, generation: u64) {
        let gone: Vec<DirectionalKey> = self
            .by_original
            .iter()
            .filter(|(_, slot)| slot.destroyed_in.is_some_and(|d| d < generation))
            .map(|(original, _)| *original)
            .collect();
        for original in gone {
            self.remove(&original);
        }
    }

    fn remove(&mut self, original: &DirectionalKey) {
        if let Some(slot) = self.by_original.remove(original) {
            self.by_reply.remove(&slot.binding.reply);
        }
    }

    /// The binding of the connection `original` opened, if held.
    pub fn get(&self, original: &DirectionalKey) -> Option<&NatBinding> {
        self.by_original.get(original).map(|slot| &slot.binding)
    }

    /// The key a packet counter seen under `key` belongs under (the original
    /// tuple, or it reversed for the responder's direction) and the
    /// connection's binding; `None` when `key` is not part of a translated
    /// connection. See the module documentation for the four cases.
    pub fn attribute(&self, key: &DirectionalKey) -> Option<(DirectionalKey, &NatBinding)> {
        if self.is_empty() {
            return None;
        }
        if let Some(slot) = self.by_original.get(key) {
            return Some((*key, &slot.binding));
        }
        if let Some(slot) = self.by_reply.get(key).and_then(|o| self.by_original.get(o)) {
            return Some((slot.binding.original.reversed(), &slot.binding));
        }
        let reversed = key.reversed();
        if let Some(slot) = self
            .by_reply
            .get(&reversed)
            .and_then(|o| self.by_original.get(o))
        {
            return Some((slot.binding.original, &slot.binding));
        }
        self.by_original
            .get(&reversed)
            .map(|slot| (*key, &slot.binding))
    }
}

#[cfg(test)]
#[path = "nat_tests.rs"]
mod tests;
