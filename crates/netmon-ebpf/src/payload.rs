//! Payload samples: handing out their ring buffer and telling the kernel
//! which flow directions need no more (`netmon_payload_done`).

use aya::maps::{MapData, RingBuf};
use netmon_common::{names, FlowKey};

use crate::{error::EbpfError, loader::NetmonEbpf};

impl NetmonEbpf {
    /// Hands out the ring buffer of payload samples (once).
    pub fn take_payloads(&mut self) -> Option<RingBuf<MapData>> {
        self.payloads.take()
    }

    /// `netmon_common::payload_flags` the programs were loaded with.
    pub fn payload_flags(&self) -> u32 {
        self.payload_flags
    }

    /// Stops first-payload samples of these flow directions (the kernel
    /// forgets the oldest when the map is full, and a SYN on the same key
    /// starts sampling again). Returns how many could not be written.
    pub fn mark_payload_done(&mut self, keys: &[FlowKey]) -> Result<usize, EbpfError> {
        let mut failed = 0;
        for key in keys {
            if let Err(source) = self.payload_done.insert(key, 1u8, 0) {
                failed += 1;
                if failed == keys.len() {
                    return Err(EbpfError::Map {
                        map: names::PAYLOAD_DONE_MAP,
                        source,
                    });
                }
            }
        }
        Ok(failed)
    }
}
