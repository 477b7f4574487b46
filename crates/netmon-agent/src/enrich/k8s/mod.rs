//! Kubernetes enrichment: watches keep an in-memory index from addresses to
//! pods, workloads, services and nodes; flows are named from that index and
//! never by a request per flow.

pub mod cached;
pub mod index;
pub mod resources;
pub mod strip;

pub use index::{Cached, K8sIndex, Kind};
