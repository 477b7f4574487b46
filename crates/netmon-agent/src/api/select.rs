//! Choosing the flows of a non-follow `GET /api/v1/flows`: those that pass
//! the query's filters, oldest first by `(first_seen, id)`, cut to the
//! newest `limit`.
//!
//! With a limit, only the `limit` newest matches are ever held, and a flow
//! is turned into a [`FlowView`] (strings, names, the filters' input) only
//! when it is newer than the oldest one kept so far: filters only remove,
//! so an older flow can never be part of the answer. A page of 1,000 out of
//! a million flows then builds a few thousand views instead of a million,
//! and holds the flow table's lock for a walk over its records, not for a
//! million views and a sort (BENCHMARKS.md, 2026-12-06: 12.4 s before).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::query::FlowQuery;
use super::view::FlowView;
use crate::flow::UnixNanos;

/// The order of the answer: `(first_seen_ns, id)`, unique per flow.
pub type Rank = (UnixNanos, u64);

struct Ranked {
    rank: Rank,
    view: FlowView,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}

/// The answer to `query` among `candidates`, each given by its rank and a
/// way to build its view (called at most once, only when the view may be
/// part of the answer).
pub fn select<F>(
    query: &FlowQuery,
    now: UnixNanos,
    candidates: impl IntoIterator<Item = (Rank, F)>,
) -> Vec<FlowView>
where
    F: FnOnce() -> FlowView,
{
    let Some(limit) = query.limit else {
        let mut all: Vec<Ranked> = candidates
            .into_iter()
            .map(|(rank, view)| Ranked { rank, view: view() })
            .filter(|r| query.matches_at(&r.view, now))
            .collect();
        all.sort_unstable();
        return all.into_iter().map(|r| r.view).collect();
    };
    // A min-heap of the newest matches so far: its top is the oldest kept.
    let mut kept: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(limit + 1);
    for (rank, view) in candidates {
        if kept.len() == limit && kept.peek().is_some_and(|oldest| rank <= oldest.0.rank) {
            continue;
        }
        let view = view();
        if !query.matches_at(&view, now) {
            continue;
        }
        kept.push(Reverse(Ranked { rank, view }));
        if kept.len() > limit {
            kept.pop();
        }
    }
    // Ascending by Reverse is descending by rank: reverse for oldest first.
    let mut newest_first: Vec<FlowView> = kept
        .into_sorted_vec()
        .into_iter()
        .map(|r| r.0.view)
        .collect();
    newest_first.reverse();
    newest_first
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::api::testing::view;

    fn query(pairs: &[(&str, &str)]) -> FlowQuery {
        FlowQuery::parse(pairs.iter().copied()).unwrap()
    }

    /// Flows 1..=n, first seen in id order; even ids on port 80, odd on 443.
    fn candidates(n: u64, built: &Cell<usize>) -> Vec<(Rank, impl FnOnce() -> FlowView + '_)> {
        (1..=n)
            .map(|id| {
                let build = move || {
                    built.set(built.get() + 1);
                    let port = if id % 2 == 0 { 80 } else { 443 };
                    let mut flow = view(id, "10.0.0.1", 40000, "10.0.0.2", port);
                    flow.first_seen_ns = id * 10;
                    flow
                };
                ((id * 10, id), build)
            })
            .collect()
    }

    fn ids(flows: &[FlowView]) -> Vec<u64> {
        flows.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_limited_answer_is_the_newest_matches_oldest_first() {
        let built = Cell::new(0);
        let answer = select(
            &query(&[("limit", "3"), ("port", "80")]),
            0,
            candidates(10, &built),
        );
        assert_eq!(ids(&answer), vec![6, 8, 10]);
    }

    #[test]
    fn flows_older_than_every_kept_one_are_never_built() {
        let built = Cell::new(0);
        // Newest first: once three are kept, every later candidate is older.
        let mut all = candidates(1000, &built);
        all.reverse();
        let answer = select(&query(&[("limit", "3")]), 0, all);
        assert_eq!(ids(&answer), vec![998, 999, 1000]);
        assert_eq!(built.get(), 3);
    }

    #[test]
    fn without_a_limit_every_match_is_built_and_sorted() {
        let built = Cell::new(0);
        let mut all = candidates(6, &built);
        all.reverse();
        let answer = select(&query(&[("port", "443")]), 0, all);
        assert_eq!(ids(&answer), vec![1, 3, 5]);
        assert_eq!(built.get(), 6);
    }
}
