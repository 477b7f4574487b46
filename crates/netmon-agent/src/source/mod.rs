//! The stages that read the kernel.

pub mod links;
pub mod kernel;
