//! netmon node agent: the stages between the kernel and the exporters.

pub mod api;
pub mod export;
pub mod flow;
