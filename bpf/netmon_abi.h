/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one definition of netmon's kernel/user ABI: every map key, map value,
 * event and limit shared between the eBPF programs in this folder and the
 * Rust agent. crates/netmon-common mirrors each struct and asserts its size
 * and field offsets at compile time; change both together and bump
 * NETMON_ABI_VERSION.
 *
 * Conventions:
 * - Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so
 *   one key type serves both families.
 * - Ports are in host byte order.
 * - Timestamps are bpf_ktime_get_ns() (CLOCK_MONOTONIC, nanoseconds).
 * - Every struct is padded explicitly so the layout is identical for clang's
 *   BPF target and rustc's x86_64 target.
 */
#ifndef NETMON_ABI_H
#define NETMON_ABI_H

#define NETMON_ABI_VERSION 1

/* Default capacity of each of the two flow maps; the agent sets the real
 * value from flow.max_flows at load time. */
#define NETMON_DEFAULT_FLOW_MAP_ENTRIES 65536
#define NETMON_IFACE_MAP_ENTRIES 4096
/* Slots of the per-interface counters array (two entries each: ingress,
 * egress); the agent gives every attached interface a free slot. */
#define NETMON_IFACE_SLOTS 4096
#define NETMON_CONN_MAP_ENTRIES 65536
/* 4 MiB: ~48,000 events, ~0.2 s of a 50,000 connections/s storm (5 events
 * each) between two of the agent's reads. With 1 MiB a storm under perf lost
 * 875 of 4.2M events when the reader thread was late (BENCHMARKS.md). */
#define NETMON_EVENTS_RINGBUF_BYTES (4 << 20)

/* Flow counting is double-buffered: programs write into the flow map chosen
 * by control.generation while user space drains the other one, so a drain
 * never races a writer and no increment is lost (see docs/design.md). */
#define NETMON_FLOW_GENERATIONS 2

/* Key of the per-direction flow maps. */
struct netmon_flow_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	/* TCP/UDP/SCTP: ports. ICMP echo request: src_port = identifier,
	 * dst_port = 0; echo reply: src_port = 0, dst_port = identifier, so that
	 * a reply's key is the request's key reversed. Other ICMP messages:
	 * src_port = 0, dst_port = type << 8 | code. */
	__u16 src_port;
	__u16 dst_port;
	__u8 protocol; /* IPPROTO_* of the transport header */
	__u8 ip_version; /* 4 or 6 */
	__u8 _pad[2];
};

/* Extra bits next to the TCP header flags in netmon_flow_counters.tcp_flags. */
#define NETMON_TCP_FIN 0x01
#define NETMON_TCP_SYN 0x02
#define NETMON_TCP_RST 0x04
#define NETMON_TCP_PSH 0x08
#define NETMON_TCP_ACK 0x10
#define NETMON_TCP_URG 0x20
#define NETMON_TCP_ECE 0x40
#define NETMON_TCP_CWR 0x80
/* A SYN without ACK was seen in this direction: it is the initiator's. */
#define NETMON_TCP_SYN_ONLY 0x100
/* A SYN with ACK was seen in this direction: it is the responder's. */
#define NETMON_TCP_SYN_ACK 0x200

/* Hook at which a flow was first counted. */
#define NETMON_HOOK_INGRESS 0
#define NETMON_HOOK_EGRESS 1

/* Value of the per-direction flow maps. */
struct netmon_flow_counters {
	__u64 bytes; /* sum of skb->len, link-layer header included */
	__u64 packets; /* wire packets: a GSO skb counts its segments */
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u32 tcp_flags; /* union of NETMON_TCP_* seen */
	__u32 ifindex; /* interface where the flow was first counted */
	__u8 first_hook; /* NETMON_HOOK_* */
	__u8 icmp_type; /* last ICMP type seen (ICMP flows only) */
	__u8 icmp_code;
	/* Payload samples sent for this direction in this generation; set to
	 * NETMON_PAYLOAD_SAMPLES_PER_DIRECTION when user space needs no more. */
	__u8 payload_samples;
	__u8 _pad[4];
};

/* Per-interface counters, a per-CPU array indexed by slot * 2 + hook; every
 * packet the TC programs see is counted here, whether or not it is counted
 * for a flow. An array (not a hash keyed by ifindex) because the program
 * already looked the interface up: this saves a hash lookup per packet. */
struct netmon_iface_counters {
	__u64 bytes;
	__u64 packets;
};

/* Value of the monitored-interfaces map (key: ifindex). */
#define NETMON_IFACE_ACCOUNT_FLOWS 0x1
struct netmon_iface_config {
	__u32 flags;
	__u32 slot; /* index into the per-interface counters, < NETMON_IFACE_SLOTS */
};

/* Single-entry control array written by user space. */
struct netmon_control {
	__u32 generation; /* index of the flow map programs write into */
	/* Count one packet in sampling_rate for flows (0 and 1: every packet),
	 * scaled by the rate; interface counters always count every packet. */
	__u32 sampling_rate;
	__u32 payload_flags; /* NETMON_PAYLOAD_CAPTURE_* */
	__u32 _pad;
};

/* Indexes of the per-CPU stats array. */
enum netmon_stat {
	NETMON_STAT_FLOW_MAP_FULL = 0, /* packets not counted: flow map full */
	NETMON_STAT_FLOW_MAP_FULL_BYTES = 1,
	NETMON_STAT_PARSE_TRUNCATED = 2, /* packets whose headers were cut short */
	NETMON_STAT_NON_IP = 3, /* packets that are neither IPv4 nor IPv6 */
	NETMON_STAT_EVENTS_SENT = 4,
	NETMON_STAT_EVENTS_DROPPED = 5, /* ring buffer full */
	NETMON_STAT_CONN_MAP_FULL = 6, /* connections not tracked: map full */
	NETMON_STAT_FORWARDED_SKIPPED = 7, /* egress packets already counted at ingress */
	NETMON_STAT_ICMP_MAP_FULL = 8, /* ICMP packets whose type/code found no room */
	NETMON_STAT_RTT_MAP_FULL = 9, /* tcp_probe readings of sockets the RTT map had no room for */
	NETMON_STAT_PAYLOAD_SENT = 10, /* payload samples submitted to user space */
	NETMON_STAT_PAYLOAD_DROPPED = 11, /* payload samples lost: ring buffer full */
	NETMON_STAT_MAX = 12,
};

/* Packet size histogram: a per-CPU array of NETMON_PACKET_SIZE_BUCKETS
 * buckets. Bucket i holds packets of at most NETMON_PACKET_SIZE_BOUND_i
 * link-layer bytes (and more than bound i-1); the last bucket has no upper
 * bound. Bounds follow the common sizes: minimum frame, small requests,
 * 1514 (a full 1500-MTU Ethernet frame), jumbo 9018. */
#define NETMON_PACKET_SIZE_BUCKETS 10
#define NETMON_PACKET_SIZE_BOUND_0 64
#define NETMON_PACKET_SIZE_BOUND_1 128
#define NETMON_PACKET_SIZE_BOUND_2 256
#define NETMON_PACKET_SIZE_BOUND_3 512
#define NETMON_PACKET_SIZE_BOUND_4 1024
#define NETMON_PACKET_SIZE_BOUND_5 1514
#define NETMON_PACKET_SIZE_BOUND_6 2048
#define NETMON_PACKET_SIZE_BOUND_7 4096
#define NETMON_PACKET_SIZE_BOUND_8 9018

struct netmon_size_bucket {
	__u64 packets;
	__u64 bytes;
};

/* ICMP and ICMPv6 messages by type and code: a per-CPU hash. */
#define NETMON_ICMP_MAP_ENTRIES 1024
struct netmon_icmp_key {
	__u8 ip_version; /* 4: ICMP, 6: ICMPv6 */
	__u8 type;
	__u8 code;
	__u8 _pad;
};

/* TCP connection lifecycle, from tracepoint sock:inet_sock_set_state. */
enum netmon_tcp_event_kind {
	NETMON_TCP_OPENED_ACTIVE = 1, /* connect() sent a SYN */
	NETMON_TCP_ESTABLISHED_ACTIVE = 2, /* SYN-ACK received; latency = handshake */
	NETMON_TCP_ACCEPTED = 3, /* passive open reached ESTABLISHED */
	NETMON_TCP_FAILED = 4, /* never established; sk_err says why */
	NETMON_TCP_CLOSED = 5, /* established connection closed; sk_err != 0: reset */
};

struct netmon_tcp_event {
	__u64 timestamp_ns;
	__u64 sock_id; /* kernel socket address: unique while the socket lives */
	__u64 duration_ns; /* since the connection was opened (FAILED, CLOSED) */
	__u64 connect_latency_ns; /* SYN to SYN-ACK, when measured (active) */
	__u8 src_addr[16]; /* the socket's local address */
	__u8 dst_addr[16]; /* the socket's remote address */
	__u16 src_port;
	__u16 dst_port;
	__u32 netns_ino;
	__u8 kind; /* enum netmon_tcp_event_kind */
	__u8 ip_version;
	__u8 old_state; /* TCP_* state numbers of include/net/tcp_states.h */
	__u8 new_state;
	__s32 sk_err; /* errno the kernel recorded on the socket, 0 if none */
};

/* Per-socket state kept between state changes (key: sock_id). */
struct netmon_conn_state {
	__u64 opened_ns;
	__u64 connect_latency_ns;
	__u8 active;
	__u8 _pad[7];
};

/* Per-connection smoothed RTT from the tcp:tcp_probe tracepoint, one entry
 * per socket, keyed by a netmon_flow_key in the socket's own view (src: the
 * local end, dst: the remote end, protocol 6). Double-buffered by
 * control.generation like the flow maps, and sized like them. */
#define NETMON_DEFAULT_RTT_MAP_ENTRIES 65536
struct netmon_rtt_stats {
	__u64 sum_us; /* sum of the srtt readings, for a mean */
	__u64 samples; /* readings: one per segment the socket received */
	__u32 min_us;
	__u32 max_us;
	__u32 last_us; /* srtt at the latest segment */
	__u32 _pad;
};

/* ---- Packet loss: TCP retransmissions and kernel drops (loss.h) ---- */

/* Capacity of each generation of the per-flow retransmit and drop maps:
 * distinct flow directions with loss per flush interval. Preallocated
 * (~0.9 MB each), because kernels before 6.1 warn about, and RT kernels
 * refuse, elements allocated at run time by tracing programs. */
#define NETMON_LOSS_FLOW_MAP_ENTRIES 8192
/* Capacity of the cumulative drops-by-(reason, protocol) map: the kernel
 * has ~130 reasons and a drop one of seven protocol classes, and only the
 * pairs that occur take an entry (per-CPU values: kept small). */
#define NETMON_DROP_REASON_MAP_ENTRIES 1024

/* The per-flow retransmit maps are keyed by struct netmon_flow_key with
 * src = the socket's local end; the value is a __u64 count of segments. */

/* Key of the per-flow drop maps; the value is a __u64 count of packets. */
struct netmon_flow_drop_key {
	struct netmon_flow_key flow; /* the dropped packet's own direction */
	__u32 reason; /* the running kernel's enum skb_drop_reason value */
	__u32 _pad;
};

/* netmon_drop_reason_key.protocol: IPPROTO_TCP, _UDP, _ICMP, _ICMPV6 or
 * _SCTP, or one of these classes. */
#define NETMON_DROP_PROTO_NON_IP 0 /* skb->protocol is neither IPv4 nor IPv6 */
#define NETMON_DROP_PROTO_OTHER 255 /* IP, another transport or unreadable */

/* Key of the cumulative per-CPU drop counters (value: __u64 packets). */
struct netmon_drop_reason_key {
	__u32 reason;
	__u8 protocol;
	__u8 _pad[3];
};

/* Indexes of the per-CPU loss stats array (cumulative). */
enum netmon_loss_stat {
	NETMON_LOSS_STAT_RETRANSMITS = 0, /* TCP segments retransmitted, any socket */
	NETMON_LOSS_STAT_RETRANSMIT_MAP_FULL = 1, /* segments not counted per flow */
	NETMON_LOSS_STAT_DROP_FLOW_MAP_FULL = 2, /* drops not counted per flow */
	NETMON_LOSS_STAT_DROP_REASON_MAP_FULL = 3, /* drops not counted by reason */
	NETMON_LOSS_STAT_EMPTY_PURGES = 4, /* QUEUE_PURGE frees of skbs with no data: not drops */
	NETMON_LOSS_STAT_MAX = 5,
};

/* ---- Application payload samples (payload_sample.bpf.h) ---- */

/* netmon_control.payload_flags */
#define NETMON_PAYLOAD_CAPTURE_DNS 0x1 /* every TCP/UDP packet to or from port 53 */
#define NETMON_PAYLOAD_CAPTURE_FIRST 0x2 /* first payloads of each flow direction */

/* Bytes of L4 payload copied per sample: a DNS message of a usual size,
 * a TLS ClientHello up to its SNI and supported versions, an HTTP request
 * line and first headers. The rest of a payload is never read. */
#define NETMON_PAYLOAD_CAPTURE_BYTES 512
/* First-payload samples per flow direction and flow-map generation, until
 * user space marks the direction done (netmon_payload_done). */
#define NETMON_PAYLOAD_SAMPLES_PER_DIRECTION 4
#define NETMON_PAYLOAD_RINGBUF_BYTES (4 << 20)
/* Capacity of the LRU map of directions user space has classified; the
 * agent sets it like the flow maps when first-payload capture is on, to 1
 * when it is off (nothing reads it then). An evicted entry only means that
 * direction is sampled again. */
#define NETMON_DEFAULT_PAYLOAD_DONE_ENTRIES 65536

enum netmon_payload_kind {
	NETMON_PAYLOAD_FIRST = 1, /* one of a flow direction's first payloads */
	NETMON_PAYLOAD_DNS = 2, /* a packet to or from port 53 */
};

struct netmon_payload_sample {
	__u64 timestamp_ns;
	struct netmon_flow_key key; /* the packet's own direction */
	__u32 ifindex;
	__u32 payload_len; /* the packet's whole L4 payload */
	__u16 captured_len; /* bytes of data[] filled, <= NETMON_PAYLOAD_CAPTURE_BYTES */
	__u8 kind; /* enum netmon_payload_kind */
	__u8 hook; /* NETMON_HOOK_* */
	__u32 _pad;
	__u8 data[NETMON_PAYLOAD_CAPTURE_BYTES];
};

#endif /* NETMON_ABI_H */
