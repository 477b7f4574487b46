//! Naming the ends of flows.

pub mod identity;
pub mod k8s;
pub mod resolve;

pub use identity::{EndpointIdentity, FlowIdentity, ServiceName, Workload};
pub use resolve::{Enricher, Resolver};
