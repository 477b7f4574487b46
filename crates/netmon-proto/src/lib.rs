//! The flow export schema (`proto/netmon/flows/v1/flows.proto`, package
//! `netmon.flows.v1`): prost message types and the tonic `FlowCollector`
//! client and server.
//!
//! ```
//! use netmon_proto::flows::v1::{ExportRequest, SCHEMA_VERSION};
//!
//! let request = ExportRequest {
//!     schema_version: SCHEMA_VERSION,
//!     agent_id: "node-a".into(),
//!     batch_id: "node-a-1733240000000000000-1".into(),
//!     attempt: 1,
//!     records: Vec::new(),
//! };
//! assert_eq!(request.schema_version, 1);
//! ```

/// The prost these types were generated for (encode/decode with its
/// `Message` trait without a version mismatch).
pub use prost;

/// `netmon.flows.v1`.
pub mod flows {
    pub mod v1 {
        tonic::include_proto!("netmon.flows.v1");

        /// The schema version this crate's types describe; every
        /// [`ExportRequest`] carries it in `schema_version`.
        pub const SCHEMA_VERSION: u32 = SchemaVersion::SchemaVersion1 as u32;
    }
}
