//! The stages that read the kernel.

pub mod links;
