//! RowBinary encoding of flow rows, in the column order of
//! [`super::schema::COLUMNS`]: little-endian integers, strings as a LEB128
//! length and bytes, `FixedString(16)`/`IPv6` as 16 raw bytes.

use crate::batch::{EndRow, FlowRow};

/// Appends `row`, tagged with `batch_id`, to `out`.
pub fn encode_row(out: &mut Vec<u8>, row: &FlowRow, batch_id: &str) {
    out.extend_from_slice(&row.date.to_le_bytes());
    out.extend_from_slice(&row.interval_start.to_le_bytes());
    out.extend_from_slice(&row.interval_seconds.to_le_bytes());
    string(out, &row.node);
    string(out, row.direction);
    out.push(row.protocol);
    string(out, row.status);
    out.push(row.ip_version);
    end(out, &row.src);
    end(out, &row.dst);
    for counter in [
        row.tx_bytes,
        row.tx_packets,
        row.rx_bytes,
        row.rx_packets,
        row.connect_latency_us,
        row.rtt_us,
        row.retransmits,
    ] {
        out.extend_from_slice(&counter.to_le_bytes());
    }
    string(out, batch_id);
}

fn end(out: &mut Vec<u8>, end: &EndRow) {
    out.extend_from_slice(&end.ip);
    out.extend_from_slice(&end.port.to_le_bytes());
    for name in [
        &end.pod,
        &end.namespace,
        &end.workload,
        &end.service,
        &end.node,
    ] {
        string(out, name);
    }
}

fn string(out: &mut Vec<u8>, text: &str) {
    let mut length = text.len() as u64;
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_carry_a_leb128_length() {
        let mut out = Vec::new();
        string(&mut out, "ab");
        assert_eq!(out, [2, b'a', b'b']);
        let long = "x".repeat(300);
        let mut out = Vec::new();
        string(&mut out, &long);
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(out.len(), 302);
    }

    #[test]
    fn an_empty_row_is_the_fixed_width_columns_plus_one_length_byte_per_string() {
        let mut out = Vec::new();
        encode_row(&mut out, &FlowRow::default(), "b");
        // date 2 + interval_start 4 + interval_seconds 4 + protocol 1 +
        // ip_version 1 + 2 x (ip 16 + port 2) + 7 x u64, then 13 empty
        // strings and the batch id "b" (2 bytes).
        let fixed = 2 + 4 + 4 + 1 + 1 + 2 * (16 + 2) + 7 * 8;
        assert_eq!(out.len(), fixed + 13 + 2);
        assert_eq!(&out[out.len() - 2..], &[1, b'b']);
    }
}
