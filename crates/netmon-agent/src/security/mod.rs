//! Security analyses over the flow table's changes. Like `flow/`, this is
//! pure: no IO, no clock, time comes in with the data.

pub mod port_scan;

pub use port_scan::{
    DetectorStats, PortScanDetector, Probe, ScanDetection, ScanKind, ScanThresholds,
};
