//! Placeholder replaced by the flow table implementation.
pub struct FlowTable;
pub struct FlowTableConfig;
pub struct FlowTableStats;
