//! Naming the ends of flows.

pub mod k8s;
