//! The stages that read the kernel.

pub mod kernel;
pub mod links;
pub mod rtt;
