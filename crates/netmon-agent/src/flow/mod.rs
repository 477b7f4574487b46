//! The flow stage: pure, no IO, time passed in as `now`.

pub mod model;
pub mod nat;
pub mod record;
pub mod rtt;
pub mod table;

pub use model::*;
pub use nat::{NatBinding, NatTable};
pub use record::*;
pub use rtt::{merge_rtt, RttReading, RttSocket, RttStats};
pub use table::{FlowTable, FlowTableConfig, FlowTableStats, UnattributedLoss};
