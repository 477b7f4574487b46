//! The flow stage: pure, no IO, time passed in as `now`.

pub mod model;
pub mod record;
pub mod table;

pub use model::*;
pub use record::*;
pub use table::{FlowTable, FlowTableConfig, FlowTableStats, UnattributedLoss};
