//! The flow stage: pure, no IO, time passed in as `now`.

pub mod app;
pub mod model;
pub mod nat;
pub mod optional_nanos;
pub mod record;
pub mod rtt;
pub mod table;

pub use app::{AppInfo, AppObservation, AppUpdate, DnsTransaction};
pub use model::*;
pub use nat::{NatBinding, NatTable};
pub use optional_nanos::OptionalNanos;
pub use record::*;
pub use rtt::{merge_rtt, RttReading, RttSocket, RttStats};
pub use table::{FlowTable, FlowTableConfig, FlowTableStats, UnattributedLoss};
