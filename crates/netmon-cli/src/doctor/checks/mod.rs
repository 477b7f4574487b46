//! One file per kind of check; each returns finished [`Check`]s and never
//! an error: whatever goes wrong while checking is itself a finding.
//!
//! [`Check`]: super::report::Check

pub mod attach;
pub mod bpf_types;
pub mod btf;
pub mod capabilities;
pub mod conntrack;
pub mod filesystems;
pub mod kernel;
pub mod kernel_config;
pub mod netmon_object;
pub mod ports;
