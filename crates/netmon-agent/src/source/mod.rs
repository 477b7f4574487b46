//! The stages that read the kernel.

pub mod conntrack;
pub mod kernel;
pub mod links;
pub mod rtt;
