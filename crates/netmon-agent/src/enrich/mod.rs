//! Naming the ends of flows.

pub mod identity;
pub mod k8s;

pub use identity::{EndpointIdentity, FlowIdentity, ServiceName, Workload};
