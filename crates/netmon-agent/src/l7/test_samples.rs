//! Byte-exact payloads shared by the tests of this folder: captures of
//! real clients and servers on loopback (curl 7.88 with nghttp2 1.52,
//! OpenSSL 3.0 `s_client`/`s_server`, psql 15) and messages assembled
//! field by field from the protocol specifications.

use super::huffman;
use super::{AppProtocol, Side};

/// Bytes from hex digits; whitespace and other separators are ignored.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// `curl --http2-prior-knowledge http://127.0.0.1:18081/netmon.v1.Flows/List`:
/// preface, SETTINGS, WINDOW_UPDATE, HEADERS (GET, Huffman-coded literals).
pub const CURL_H2C_REQUEST: &str = "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a\
    000012040000000000000300000064000402000000000002000000000004080000000000\
    01ff0001000030010500000001820490 62a2a693d4bf70af8683f84319cc84ff86418b08\
    9d5c0b8170dc0bc0783f7a8825b650c3abbcf2e153032a2f2a";

/// `curl http://127.0.0.1:18082/index.html`.
pub const CURL_GET: &str = "474554202f696e6465782e68746d6c20485454502f312e310d0a486f73743a2031\
    32372e302e302e313a31383038320d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163\
    636570743a202a2f2a0d0a0d0a";

/// `openssl s_client -connect 127.0.0.1:18083 -servername svc.netmon.test`
/// (OpenSSL 3.0.19): the whole ClientHello, 321 bytes, SNI first,
/// supported_versions offering TLS 1.3 and 1.2 near the end.
pub const OPENSSL_CLIENT_HELLO: &str = "160301013c0100013803039fc79ff293c48c4439103c707e759fb40605\
    cba789153a33e0137a6db4b385312021199f438ad9c0e25857f2f3d5f45efbf0481560cbdb4b69ca4eacc384\
    3d1820003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0\
    140039c009c0130033009d009c003d003c0035002f00ff010000b100000014001200000f7376632e6e65746d\
    6f6e2e74657374000b000403000102000a00160014001d0017001e0019001801000101010201030104002300\
    000016000000170000000d002a0028040305030603080708080809080a080b08040805080604010501060103\
    0303010302040205020602002b0009080304030303020301002d00020101003300260024001d0020df8bafd1\
    2bdd7b412bbcc324455b8caf5182b4f7ee7ffbfdbd42337d75153f0e";

/// `openssl s_server -tls1_3` answering that ClientHello: ServerHello with
/// supported_versions = TLS 1.3, then ChangeCipherSpec and encrypted records.
pub const OPENSSL_SERVER_HELLO_TLS13: &str =
    "160303007a0200007603037fe6cd4c236b2ec4c22cd6d595fe42b5\
    ab8ed0f256aa5764d0594d5446c4d6122021199f438ad9c0e25857f2f3d5f45efbf0481560cbdb4b69ca4eac\
    c3843d1820130200002e002b0002030400330024001d002088f1d5ee786c88ecc43c283f7fe25c5c6d7ae2e7\
    9c4c9724f20bc20d4d760901140303000101170303001798 9c7652eb20a605e3013c0bd0529118bd3c23b4\
    9cf983";

/// `openssl s_server -tls1_2` answering it: a TLS 1.2 ServerHello (no
/// supported_versions), then the start of the Certificate record.
pub const OPENSSL_SERVER_HELLO_TLS12: &str =
    "16030300410200003d0303150624a0107550e3c290c5e3a9edf5c9\
    e8a0e77c187bd40f71a9d82931ec559600c02c000015ff01000100000b000403000102002300000017000016\
    030301970b00019300019000018d308201893082012fa0030201020214190b040a21ee0ef1848d1521b284ac\
    7b15e270bf300a06082a8648ce3d040302301a3118301606035504030c0f7376632e6e65746d6f6e2e746573";

/// psql 15 (`sslmode=prefer`): SSLRequest.
pub const PSQL_SSL_REQUEST: &str = "0000000804d2162f";

/// psql 15 after the server answered `N`: StartupMessage, protocol 3.0,
/// user, database, application_name.
pub const PSQL_STARTUP: &str = "0000003f000300007573657200706f73746772657300646174616261736500\
    706f737467726573006170706c69636174696f6e5f6e616d65007073716c0000";

/// MySQL 8.0.36's greeting: length 74, sequence 0, protocol 10,
/// "8.0.36\0", connection id 8, 8 bytes of scramble, filler, capabilities
/// 0xdfffffff, charset 255, status 2, 21 bytes of auth data,
/// "caching_sha2_password\0".
pub const MYSQL8_GREETING: &str =
    "4a0000000a382e302e33360008000000 1a2b3c4d5e6f7001 00 ffff ff 0200 \
    ffdf 15 00000000000000000000 112233445566778899aabbcc00 \
    63616368696e675f736861325f70617373776f726400";

/// The start of the client's HandshakeResponse41 to it (sequence 1,
/// CLIENT_PROTOCOL_41, max packet 16 MiB, utf8mb4, 23 zero bytes, user
/// "root").
pub const MYSQL_HANDSHAKE_RESPONSE: &str =
    "2500000185a6ff0100000001ff0000000000000000000000000000000000000000000000726f6f7400";

/// redis-cli's `PING`.
pub const REDIS_PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
/// redis-cli's `SET key value`.
pub const REDIS_SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
/// What redis-cli 7 sends first in interactive mode.
pub const REDIS_COMMAND_DOCS: &[u8] = b"*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n";

/// `dig example.com A`: id 0x1a2b, RD and AD, one question, an OPT record
/// (UDP size 1232) with an 8-byte client cookie.
pub const DIG_QUERY: &str = "1a2b 0120 0001 0000 0000 0001 \
    07 6578616d706c65 03 636f6d 00 0001 0001 \
    00 0029 04d0 00000000 000c 000a 0008 0102030405060708";

/// A response for `www.example.com A`: a CNAME to `example.com` (a pointer
/// into the question) and an A record whose owner is a pointer to the
/// CNAME's data, itself a pointer (a chain of two).
pub const WWW_RESPONSE: &str = "1a2c 8180 0001 0002 0000 0000 \
    03 777777 07 6578616d706c65 03 636f6d 00 0001 0001 \
    c00c 0005 0001 00000e10 0002 c010 \
    c02d 0001 0001 0000012c 0004 5db8d70e";

/// NXDOMAIN for `nope.netmon.test A`, with the zone's SOA in the authority
/// section.
pub const NXDOMAIN_RESPONSE: &str = "beef 8183 0001 0000 0001 0000 \
    04 6e6f7065 06 6e65746d6f6e 04 74657374 00 0001 0001 \
    c011 0006 0001 00000384 0026 \
    02 6e73 c011 0a 686f73746d6173746572 c011 \
    78563412 00000e10 00000384 00093a80 0000003c";

/// An HTTP/2 frame.
pub fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK string literal, Huffman-coded or raw (lengths under 127).
pub fn hpack_string(value: &str, huffman_coded: bool) -> Vec<u8> {
    let bytes = if huffman_coded {
        huffman::encode(value.as_bytes())
    } else {
        value.as_bytes().to_vec()
    };
    assert!(bytes.len() < 127);
    let mut out = vec![bytes.len() as u8 | if huffman_coded { 0x80 } else { 0 }];
    out.extend(bytes);
    out
}

/// A literal with incremental indexing whose name is static entry `index`
/// (under 63).
pub fn hpack_indexed_name(index: u8, value: &str, huffman_coded: bool) -> Vec<u8> {
    assert!(index < 63);
    let mut out = vec![0x40 | index];
    out.extend(hpack_string(value, huffman_coded));
    out
}

/// The client SETTINGS (ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 4 MiB) and
/// connection WINDOW_UPDATE grpc-go sends after the preface.
fn grpc_client_settings() -> Vec<u8> {
    let mut out = frame(4, 0, 0, &hex("0002 00000000 0004 00400000"));
    out.extend(frame(8, 0, 0, &hex("003e0001")));
    out
}

/// The header block of a grpc-go unary call: POST, http, the path and
/// authority, `content-type: application/grpc` as the literal with
/// indexed name 31 and Huffman value grpc-go sends (`5f 8b ...`), the user
/// agent and `te: trailers`.
pub fn grpc_request_block(huffman_coded: bool) -> Vec<u8> {
    let mut block = vec![0x83, 0x86];
    block.extend(hpack_indexed_name(
        4,
        "/netmon.v1.Flows/List",
        huffman_coded,
    ));
    block.extend(hpack_indexed_name(
        1,
        "svc.netmon.test:50051",
        huffman_coded,
    ));
    if huffman_coded {
        block.extend(hex("5f8b 1d75d0620d263d4c4d6564"));
    } else {
        // Literal without indexing, name index 31 (4-bit prefix: 15 + 16).
        block.extend(hex("0f10"));
        block.extend(hpack_string("application/grpc", false));
    }
    block.extend(hpack_indexed_name(58, "grpc-go/1.62.1", huffman_coded));
    block.push(0x40);
    block.extend(hpack_string("te", huffman_coded));
    block.extend(hpack_string("trailers", huffman_coded));
    block
}

/// A gRPC call's first client segment: preface, SETTINGS, WINDOW_UPDATE,
/// HEADERS (END_HEADERS) on stream 1.
pub fn grpc_request(huffman_coded: bool) -> Vec<u8> {
    let mut out = super::http2::PREFACE.to_vec();
    out.extend(grpc_client_settings());
    out.extend(frame(1, 0x4, 1, &grpc_request_block(huffman_coded)));
    out
}

/// The same call with its HEADERS frame PADDED (3 bytes) and with
/// PRIORITY, split into HEADERS and a CONTINUATION.
pub fn grpc_request_padded_and_continued() -> Vec<u8> {
    let block = grpc_request_block(true);
    let (head, tail) = block.split_at(5);
    let mut payload = vec![3];
    payload.extend(hex("80000000 0f"));
    payload.extend_from_slice(head);
    payload.extend([0, 0, 0]);
    let mut out = super::http2::PREFACE.to_vec();
    out.extend(grpc_client_settings());
    out.extend(frame(1, 0x8 | 0x20, 1, &payload));
    out.extend(frame(9, 0x4, 1, tail));
    out
}

/// The server's first segment of a gRPC call: SETTINGS, SETTINGS ACK,
/// WINDOW_UPDATE, then HEADERS with `:status 200` (static index 8) and
/// the gRPC content type.
pub fn grpc_response() -> Vec<u8> {
    let mut out = frame(4, 0, 0, &hex("0005 00004000"));
    out.extend(frame(4, 1, 0, &[]));
    out.extend(frame(8, 0, 0, &hex("0000 ffff")));
    let mut block = vec![0x88];
    block.extend(hex("5f8b 1d75d0620d263d4c4d6564"));
    out.extend(frame(1, 0x4, 1, &block));
    out
}

/// TLS extensions of a ClientHello under test.
pub struct HelloParts<'a> {
    pub server_name: Option<&'a str>,
    /// The supported_versions list, when sent.
    pub versions: Option<&'a [u16]>,
    /// Bytes of padding extension (21) placed before the others.
    pub padding_before: usize,
}

/// A TLS 1.3 ClientHello assembled field by field (RFC 8446 §4.1.2):
/// record version 0x0301, legacy_version 0x0303, a 32-byte session id,
/// GREASE and three TLS 1.3 suites, then the extensions of `parts`,
/// supported_groups and a 32-byte X25519 key share.
pub fn client_hello(parts: &HelloParts<'_>) -> Vec<u8> {
    fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend((data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        out
    }
    let mut extensions = Vec::new();
    if parts.padding_before > 0 {
        extensions.extend(extension(21, &vec![0; parts.padding_before]));
    }
    if let Some(name) = parts.server_name {
        let mut entry = vec![0];
        entry.extend((name.len() as u16).to_be_bytes());
        entry.extend_from_slice(name.as_bytes());
        let mut list = (entry.len() as u16).to_be_bytes().to_vec();
        list.extend(entry);
        extensions.extend(extension(0, &list));
    }
    extensions.extend(extension(10, &hex("0006 001d 0017 0018")));
    if let Some(versions) = parts.versions {
        let mut list = vec![(versions.len() * 2) as u8];
        for v in versions {
            list.extend(v.to_be_bytes());
        }
        extensions.extend(extension(43, &list));
    }
    let mut key_share = hex("0024 001d 0020");
    key_share.extend([0x42; 32]);
    extensions.extend(extension(51, &key_share));

    let mut body = hex("0303");
    body.extend([0x11; 32]);
    body.push(32);
    body.extend([0x22; 32]);
    body.extend(hex("0008 7a7a 1301 1302 1303"));
    body.extend(hex("01 00"));
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);

    let mut handshake = vec![1];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = hex("16 0301");
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// One valid payload: what it is, who sends it, what it is classified as
/// and what the flow must already be known as.
pub struct Sample {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub side: Side,
    pub protocol: AppProtocol,
    pub known: Option<AppProtocol>,
}

/// Every valid sample, for the tests that cut and mutate them.
pub fn all_samples() -> Vec<Sample> {
    use AppProtocol::*;
    use Side::*;
    let sample = |name, bytes, side, protocol, known| Sample {
        name,
        bytes,
        side,
        protocol,
        known,
    };
    let tls13 = client_hello(&HelloParts {
        server_name: Some("svc.netmon.test"),
        versions: Some(&[0x2a2a, 0x0304, 0x0303]),
        padding_before: 0,
    });
    let mut dns_tcp = (hex(DIG_QUERY).len() as u16).to_be_bytes().to_vec();
    dns_tcp.extend(hex(DIG_QUERY));
    vec![
        sample(
            "curl h2c request",
            hex(CURL_H2C_REQUEST),
            Initiator,
            Http2,
            None,
        ),
        sample("curl GET", hex(CURL_GET), Initiator, Http, None),
        sample(
            "HTTP/1.1 200 response",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
            Responder,
            Http,
            None,
        ),
        sample(
            "openssl ClientHello",
            hex(OPENSSL_CLIENT_HELLO),
            Initiator,
            Tls,
            None,
        ),
        sample("assembled ClientHello", tls13, Initiator, Tls, None),
        sample(
            "openssl TLS 1.3 ServerHello",
            hex(OPENSSL_SERVER_HELLO_TLS13),
            Responder,
            Tls,
            None,
        ),
        sample(
            "openssl TLS 1.2 ServerHello",
            hex(OPENSSL_SERVER_HELLO_TLS12),
            Responder,
            Tls,
            None,
        ),
        sample(
            "psql SSLRequest",
            hex(PSQL_SSL_REQUEST),
            Initiator,
            Postgresql,
            None,
        ),
        sample(
            "psql StartupMessage",
            hex(PSQL_STARTUP),
            Initiator,
            Postgresql,
            None,
        ),
        sample(
            "MySQL 8 greeting",
            hex(MYSQL8_GREETING),
            Responder,
            Mysql,
            None,
        ),
        sample(
            "MySQL handshake response",
            hex(MYSQL_HANDSHAKE_RESPONSE),
            Initiator,
            Mysql,
            Some(Mysql),
        ),
        sample(
            "redis-cli PING",
            REDIS_PING.to_vec(),
            Initiator,
            Redis,
            None,
        ),
        sample("redis-cli SET", REDIS_SET.to_vec(), Initiator, Redis, None),
        sample(
            "redis-cli COMMAND DOCS",
            REDIS_COMMAND_DOCS.to_vec(),
            Initiator,
            Redis,
            None,
        ),
        sample("dig query", hex(DIG_QUERY), Initiator, Dns, None),
        sample("dig query over TCP", dns_tcp, Initiator, Dns, None),
        sample(
            "CNAME and A response",
            hex(WWW_RESPONSE),
            Responder,
            Dns,
            None,
        ),
        sample(
            "NXDOMAIN response",
            hex(NXDOMAIN_RESPONSE),
            Responder,
            Dns,
            None,
        ),
        sample(
            "gRPC request, Huffman",
            grpc_request(true),
            Initiator,
            Grpc,
            None,
        ),
        sample(
            "gRPC request, raw literals",
            grpc_request(false),
            Initiator,
            Grpc,
            None,
        ),
        sample(
            "gRPC request, padded and continued",
            grpc_request_padded_and_continued(),
            Initiator,
            Grpc,
            None,
        ),
        sample(
            "gRPC response",
            grpc_response(),
            Responder,
            Grpc,
            Some(Http2),
        ),
    ]
}
