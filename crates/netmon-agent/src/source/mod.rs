//! The stages that read the kernel.

pub mod drop_reasons;
pub mod kernel;
pub mod links;
pub mod loss;
