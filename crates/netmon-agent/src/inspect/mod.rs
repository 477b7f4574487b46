//! The inspect stage: what the payload samples the kernel copies (DNS
//! messages, the first bytes of each flow) say, decoded by `l7/` and turned
//! into observations for the flow table, DNS transactions and the names
//! the node resolved. Pure: no IO, time passed in.

pub mod classifier;
pub mod dns_tracker;
pub mod resolved_names;

pub use classifier::{AppClassifier, ClassifierStats, Verdict};
pub use dns_tracker::{CompletedDns, DnsTracker, DnsTrackerStats};
pub use resolved_names::ResolvedNames;
