//! Payload samples from the kernel as the inspect stage takes them: the
//! packet's direction in plain types, the kernel's timestamp, the bytes.

use netmon_common as abi;

use super::kernel::directional_key;
use crate::flow::DirectionalKey;

/// Why the kernel sent a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// One of a flow direction's first payloads.
    FirstPayload,
    /// A packet to or from port 53.
    Dns,
}

/// One packet's first payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample<'a> {
    pub kind: SampleKind,
    pub key: DirectionalKey,
    /// `bpf_ktime_get_ns()` when the packet was seen (CLOCK_MONOTONIC).
    pub at_mono_ns: u64,
    pub payload: &'a [u8],
}

/// The sample in plain types; `None` for a kind this agent does not know
/// (an object newer than the agent).
pub fn sample(raw: &abi::PayloadSample) -> Option<Sample<'_>> {
    let kind = match raw.kind {
        abi::payload_kind::FIRST => SampleKind::FirstPayload,
        abi::payload_kind::DNS => SampleKind::Dns,
        _ => return None,
    };
    Some(Sample {
        kind,
        key: directional_key(&raw.key),
        at_mono_ns: raw.timestamp_ns,
        payload: raw.captured(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Protocol;

    fn raw(kind: u8, payload: &[u8]) -> abi::PayloadSample {
        let mut key = abi::FlowKey {
            src_port: 40000,
            dst_port: 53,
            protocol: 17,
            ip_version: 4,
            ..abi::FlowKey::default()
        };
        key.src_addr[10..].copy_from_slice(&[0xff, 0xff, 10, 0, 0, 1]);
        key.dst_addr[10..].copy_from_slice(&[0xff, 0xff, 10, 0, 0, 2]);
        let mut data = [0u8; abi::PAYLOAD_CAPTURE_BYTES];
        data[..payload.len()].copy_from_slice(payload);
        abi::PayloadSample {
            timestamp_ns: 77,
            key,
            ifindex: 3,
            payload_len: 1000,
            captured_len: payload.len() as u16,
            kind,
            hook: 0,
            _pad: 0,
            data,
        }
    }

    #[test]
    fn a_dns_sample_has_its_direction_time_and_only_the_captured_bytes() {
        let raw = raw(abi::payload_kind::DNS, b"abc");
        let sample = sample(&raw).unwrap();
        assert_eq!(sample.kind, SampleKind::Dns);
        assert_eq!(sample.key.src.ip.to_string(), "10.0.0.1");
        assert_eq!(sample.key.dst.port, 53);
        assert_eq!(sample.key.protocol, Protocol::Udp);
        assert_eq!(sample.at_mono_ns, 77);
        assert_eq!(sample.payload, b"abc");
    }

    #[test]
    fn a_captured_length_beyond_the_buffer_is_cut_to_it_and_unknown_kinds_are_skipped() {
        let mut raw = raw(abi::payload_kind::FIRST, b"x");
        raw.captured_len = u16::MAX;
        assert_eq!(
            sample(&raw).unwrap().payload.len(),
            abi::PAYLOAD_CAPTURE_BYTES
        );
        raw.kind = 9;
        assert!(sample(&raw).is_none());
    }
}
