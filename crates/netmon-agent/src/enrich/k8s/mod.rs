//! Kubernetes enrichment: watches keep an in-memory index from addresses to
//! pods, workloads, services and nodes; flows are named from that index and
//! never by a request per flow.

pub mod resources;
