//! The stages that read the kernel.

pub mod conntrack;
pub mod drop_reasons;
pub mod kernel;
pub mod links;
pub mod loss;
pub mod payload;
pub mod rtt;
