//! An agent-like gRPC client: builds batches of known records and sends
//! each until the server accepts it, re-sending with the same batch_id (and
//! a higher `attempt`) after an error or no answer, as the agent does.

use std::time::Duration;

use netmon_proto::flows::v1::flow_collector_client::FlowCollectorClient;
use netmon_proto::flows::v1::{
    Direction, Endpoint, ExportRequest, ExportResponse, FlowRecord, FlowStatus, SCHEMA_VERSION,
};
use tonic::transport::{Channel, Endpoint as ChannelEndpoint};

/// 2026-12-03T18:00:00Z: a fixed interval start, so rows are predictable.
pub const INTERVAL_START_NS: u64 = 1_796_320_800_000_000_000;

/// A client whose channel reconnects by itself after the server restarts.
pub fn connect(url: &str) -> FlowCollectorClient<Channel> {
    let channel = ChannelEndpoint::from_shared(url.to_owned())
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    FlowCollectorClient::new(channel)
}

/// Record `index` of batch `sequence`: a TCP flow from 10.0.0.1 to
/// 10.0.0.2:443 whose source port tells them apart, with
/// `tx_bytes = 1000 * sequence + index` and fixed other counters.
pub fn record(sequence: u64, index: u64) -> FlowRecord {
    FlowRecord {
        interval_start_unix_ns: INTERVAL_START_NS,
        interval_seconds: 10,
        node: "node-a".into(),
        direction: Direction::Egress as i32,
        protocol: 6,
        status: FlowStatus::Active as i32,
        ip_version: 4,
        src: Some(Endpoint {
            ip: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
            port: (1024 + sequence * 100 + index) as u32 % 65536,
            pod: "client".into(),
            namespace: "test".into(),
            ..Endpoint::default()
        }),
        dst: Some(Endpoint {
            ip: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2],
            port: 443,
            service: "api".into(),
            ..Endpoint::default()
        }),
        tx_bytes: 1000 * sequence + index,
        tx_packets: 3,
        rx_bytes: 500,
        rx_packets: 2,
        connect_latency_us: 120,
        rtt_us: 80,
        retransmits: 1,
    }
}

/// Batch `sequence` of `agent`, `records` records long.
pub fn batch(agent: &str, sequence: u64, records: u64) -> ExportRequest {
    ExportRequest {
        schema_version: SCHEMA_VERSION,
        agent_id: agent.to_owned(),
        batch_id: format!("{agent}-1-{sequence}"),
        attempt: 1,
        records: (0..records).map(|index| record(sequence, index)).collect(),
    }
}

/// `sum(tx_bytes)` of batches `sequences` of `records` records each.
pub fn tx_bytes_of(sequences: impl IntoIterator<Item = u64>, records: u64) -> u64 {
    sequences
        .into_iter()
        .map(|sequence| {
            (0..records)
                .map(|index| 1000 * sequence + index)
                .sum::<u64>()
        })
        .sum()
}

/// Sends `request` until the server answers OK; returns the answer and how
/// many sends it took. Only UNAVAILABLE and transport errors are retried.
pub async fn send_until_accepted(
    client: &mut FlowCollectorClient<Channel>,
    mut request: ExportRequest,
    give_up_after: Duration,
) -> (ExportResponse, u32) {
    let deadline = tokio::time::Instant::now() + give_up_after;
    loop {
        match client.export(request.clone()).await {
            Ok(response) => return (response.into_inner(), request.attempt),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::Unknown
                        | tonic::Code::Cancelled
                        | tonic::Code::DeadlineExceeded
                ) =>
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "batch {} not accepted within {give_up_after:?}: {status}",
                    request.batch_id
                );
                request.attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("batch {} refused: {status}", request.batch_id),
        }
    }
}

/// Sends `body` as the message of an Export call, byte for byte: for
/// messages no correct client would send.
pub async fn raw_export(url: &str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let channel = ChannelEndpoint::from_shared(url.to_owned())
        .expect("a valid URL")
        .connect()
        .await
        .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/netmon.flows.v1.FlowCollector/Export",
    );
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Passes bytes through unchanged in both directions.
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use netmon_proto::prost::bytes::BufMut;
        buf.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use netmon_proto::prost::bytes::Buf;
        let bytes = buf.copy_to_bytes(buf.remaining()).to_vec();
        Ok(Some(bytes))
    }
}
