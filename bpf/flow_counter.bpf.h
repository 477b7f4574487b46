/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * TC classifier programs (ingress and egress) that count every packet into
 * per-direction flow counters, in the kernel. No per-packet data reaches
 * user space: the agent drains the maps every flush interval.
 */
#ifndef NETMON_FLOW_COUNTER_BPF_H
#define NETMON_FLOW_COUNTER_BPF_H

#include "maps.h"
#include "payload_sample.bpf.h"

#define ETH_HLEN_ 14
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_SCTP_ 132

/* Bounded loops the verifier can unroll: two VLAN tags (QinQ) and eight
 * IPv6 extension headers cover every real packet; a packet with more is
 * counted with the transport fields it could reach. */
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HEADERS 8

#define TC_ACT_UNSPEC_ (-1)

struct packet_info {
	__u32 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 is_icmp;
	/* TCP and UDP: where the L4 payload starts and how long it is (0: none,
	 * or the headers could not be read). */
	__u32 payload_off;
	__u32 payload_len;
};

/* The L4 payload's length: from its start to the end of the IP packet, not
 * to the end of the skb, which may carry Ethernet padding. */
static __always_inline void set_payload(struct packet_info *info, __u32 payload_off,
					__u32 ip_end)
{
	if (ip_end > payload_off) {
		info->payload_off = payload_off;
		info->payload_len = ip_end - payload_off;
	}
}

/* Packet bounds, read once per packet. */
struct packet_cursor {
	void *data;
	void *data_end;
};

/* Copies `len` header bytes at `off`. Headers are almost always in the
 * skb's linear area, where direct packet access is a few loads; a header
 * beyond it (non-linear skb) takes the bpf_skb_load_bytes helper. Measured
 * here: the helper path made parsing a 64-byte UDP packet cost ~150 ns, the
 * direct path a fraction of that (BENCHMARKS.md). */
#define MAX_DIRECT_OFFSET 512
static __always_inline int load_header(struct __sk_buff *skb, struct packet_cursor *cur,
				       __u32 off, void *dst, __u32 len)
{
	if (off < MAX_DIRECT_OFFSET) {
		__u8 *p = (__u8 *)cur->data + off;
		if ((void *)(p + len) <= cur->data_end) {
			__builtin_memcpy(dst, p, len);
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, off, dst, len);
}

static __always_inline void set_v4_mapped(__u8 *dst, __u32 v4_be)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4_be, 4);
}

/* Fills the transport part of the key. Returns 0, or -1 if the header was
 * cut short (the packet is still counted, with zero ports). */
static __always_inline int parse_transport(struct __sk_buff *skb, struct packet_cursor *cur,
					   __u32 off, __u32 ip_end, __u8 proto,
					   struct netmon_flow_key *key, struct packet_info *info)
{
	switch (proto) {
	case IPPROTO_TCP_: {
		__u8 hdr[14];
		if (load_header(skb, cur, off, hdr, sizeof(hdr)) < 0)
			return -1;
		key->src_port = ((__u16)hdr[0] << 8) | hdr[1];
		key->dst_port = ((__u16)hdr[2] << 8) | hdr[3];
		__u32 flags = hdr[13];
		if ((flags & NETMON_TCP_SYN) && !(flags & NETMON_TCP_ACK))
			flags |= NETMON_TCP_SYN_ONLY;
		if ((flags & NETMON_TCP_SYN) && (flags & NETMON_TCP_ACK))
			flags |= NETMON_TCP_SYN_ACK;
		info->tcp_flags = flags;
		__u32 data_off = (hdr[12] >> 4) * 4;
		if (data_off >= 20)
			set_payload(info, off + data_off, ip_end);
		return 0;
	}
	case IPPROTO_UDP_:
	case IPPROTO_SCTP_: {
		/* Both start with 16-bit source and destination ports. */
		__u8 hdr[4];
		if (load_header(skb, cur, off, hdr, sizeof(hdr)) < 0)
			return -1;
		key->src_port = ((__u16)hdr[0] << 8) | hdr[1];
		key->dst_port = ((__u16)hdr[2] << 8) | hdr[3];
		if (proto == IPPROTO_UDP_)
			set_payload(info, off + 8, ip_end);
		return 0;
	}
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_: {
		__u8 hdr[6]; /* type, code, checksum, identifier */
		if (load_header(skb, cur, off, hdr, sizeof(hdr)) < 0)
			return -1;
		__u8 type = hdr[0], code = hdr[1];
		__u16 id = ((__u16)hdr[4] << 8) | hdr[5];
		info->is_icmp = 1;
		info->icmp_type = type;
		info->icmp_code = code;
		int request = (proto == IPPROTO_ICMP_) ? type == 8 : type == 128;
		int reply = (proto == IPPROTO_ICMP_) ? type == 0 : type == 129;
		if (request) {
			key->src_port = id;
		} else if (reply) {
			key->dst_port = id;
		} else {
			key->dst_port = ((__u16)type << 8) | code;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* Parses Ethernet (with up to two VLAN tags), IPv4 (with options) or IPv6
 * (with extension headers) and the transport header into `key`.
 * Returns 0 when the packet is IP, 1 when it is not IP, -1 when truncated. */
static __always_inline int parse_headers(struct __sk_buff *skb, struct packet_cursor *cur,
					 struct netmon_flow_key *key, struct packet_info *info)
{
	__u16 eth_proto_be;
	__u32 off = 12;

	if (load_header(skb, cur, off, &eth_proto_be, 2) < 0)
		return -1;
	off += 2;
	__u16 eth_proto = bpf_ntohs(eth_proto_be);

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (eth_proto != ETH_P_8021Q_ && eth_proto != ETH_P_8021AD_)
			break;
		/* 802.1Q tag: 2 bytes TCI, then the encapsulated EtherType. */
		if (load_header(skb, cur, off + 2, &eth_proto_be, 2) < 0)
			return -1;
		eth_proto = bpf_ntohs(eth_proto_be);
		off += 4;
	}

	if (eth_proto == ETH_P_IP_) {
		__u8 ip[20];
		if (load_header(skb, cur, off, ip, sizeof(ip)) < 0)
			return -1;
		__u32 ihl = (ip[0] & 0x0f) * 4;
		if (ihl < 20)
			return -1;
		key->ip_version = 4;
		key->protocol = ip[9];
		__u32 saddr, daddr;
		__builtin_memcpy(&saddr, ip + 12, 4);
		__builtin_memcpy(&daddr, ip + 16, 4);
		set_v4_mapped(key->src_addr, saddr);
		set_v4_mapped(key->dst_addr, daddr);
		/* A non-first fragment carries no transport header: it is counted
		 * under the flow's addresses with zero ports. */
		__u16 frag_off = ((__u16)(ip[6] & 0x1f) << 8) | ip[7];
		if (frag_off != 0)
			return 0;
		/* tot_len is 0 in a BIG TCP super-packet: the skb is the packet. */
		__u32 tot_len = ((__u32)ip[2] << 8) | ip[3];
		__u32 ip_end = tot_len ? off + tot_len : skb->len;
		return parse_transport(skb, cur, off + ihl, ip_end, key->protocol, key, info) < 0
			       ? -1
			       : 0;
	}

	if (eth_proto == ETH_P_IPV6_) {
		__u8 ip6[40];
		if (load_header(skb, cur, off, ip6, sizeof(ip6)) < 0)
			return -1;
		key->ip_version = 6;
		__builtin_memcpy(key->src_addr, ip6 + 8, 16);
		__builtin_memcpy(key->dst_addr, ip6 + 24, 16);
		__u8 next = ip6[6];
		/* payload_len is 0 in a jumbogram or BIG TCP super-packet. */
		__u32 payload_len = ((__u32)ip6[4] << 8) | ip6[5];
		__u32 ip_end = payload_len ? off + 40 + payload_len : skb->len;
		off += 40;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
			if (next != IPPROTO_HOPOPTS_ && next != IPPROTO_ROUTING_ &&
			    next != IPPROTO_DSTOPTS_ && next != IPPROTO_FRAGMENT_ &&
			    next != IPPROTO_AH_)
				break;
			__u8 ext[4];
			if (load_header(skb, cur, off, ext, sizeof(ext)) < 0)
				return -1;
			if (next == IPPROTO_FRAGMENT_) {
				__u16 frag_off = (((__u16)ext[2] << 8) | ext[3]) & 0xfff8;
				next = ext[0];
				off += 8;
				if (frag_off != 0) {
					key->protocol = next;
					return 0;
				}
			} else if (next == IPPROTO_AH_) {
				next = ext[0];
				off += ((__u32)ext[1] + 2) * 4;
			} else {
				next = ext[0];
				off += ((__u32)ext[1] + 1) * 8;
			}
		}
		key->protocol = next;
		return parse_transport(skb, cur, off, ip_end, next, key, info) < 0 ? -1 : 0;
	}

	return 1;
}

/* A global function, verified once on its own rather than inlined into
 * both TC programs: the verifier then explores the parse's paths once, not
 * once per path of what follows it (inlined, the ingress program took 316k
 * of the verifier's 1M instructions before payload sampling, and over 1M
 * with it). */
__attribute__((noinline)) int netmon_parse_packet(struct __sk_buff *skb,
						  struct netmon_flow_key *key,
						  struct packet_info *info)
{
	if (!skb || !key || !info)
		return -1;
	struct packet_cursor cur = {
		.data = (void *)(long)skb->data,
		.data_end = (void *)(long)skb->data_end,
	};
	return parse_headers(skb, &cur, key, info);
}

static __always_inline void count_interface(__u32 slot, __u32 hook, __u64 bytes, __u64 packets)
{
	__u32 index = slot * 2 + hook;
	struct netmon_iface_counters *c = bpf_map_lookup_elem(&netmon_iface_stats, &index);
	if (c) {
		c->bytes += bytes; /* per-CPU value: no other writer */
		c->packets += packets;
	}
}

static __always_inline __u32 size_bucket(__u64 size)
{
	if (size <= NETMON_PACKET_SIZE_BOUND_0)
		return 0;
	if (size <= NETMON_PACKET_SIZE_BOUND_1)
		return 1;
	if (size <= NETMON_PACKET_SIZE_BOUND_2)
		return 2;
	if (size <= NETMON_PACKET_SIZE_BOUND_3)
		return 3;
	if (size <= NETMON_PACKET_SIZE_BOUND_4)
		return 4;
	if (size <= NETMON_PACKET_SIZE_BOUND_5)
		return 5;
	if (size <= NETMON_PACKET_SIZE_BOUND_6)
		return 6;
	if (size <= NETMON_PACKET_SIZE_BOUND_7)
		return 7;
	if (size <= NETMON_PACKET_SIZE_BOUND_8)
		return 8;
	return 9;
}

/* A GSO/GRO skb is spread evenly over its segments: each is counted as
 * len / segs bytes (headers are in len once, so this is a little under the
 * wire size of a segment; exact for ordinary packets). */
static __always_inline void count_packet_size(__u64 bytes, __u64 packets)
{
	__u64 each = packets > 1 ? bytes / packets : bytes;
	__u32 bucket = size_bucket(each);
	struct netmon_size_bucket *b = bpf_map_lookup_elem(&netmon_packet_sizes, &bucket);
	if (b) {
		b->packets += packets; /* per-CPU value: no other writer */
		b->bytes += bytes;
	}
}

static __always_inline void count_icmp(struct netmon_flow_key *flow, struct packet_info *info,
				       __u64 packets)
{
	struct netmon_icmp_key key = {
		.ip_version = flow->ip_version,
		.type = info->icmp_type,
		.code = info->icmp_code,
	};
	__u64 *count = bpf_map_lookup_elem(&netmon_icmp, &key);
	if (count) {
		*count += packets; /* per-CPU value: no other writer */
		return;
	}
	/* On a per-CPU hash this sets this CPU's value; the others start at 0.
	 * EEXIST means another CPU created the key meanwhile: look again. */
	if (bpf_map_update_elem(&netmon_icmp, &key, &packets, BPF_NOEXIST) == 0)
		return;
	count = bpf_map_lookup_elem(&netmon_icmp, &key);
	if (count)
		*count += packets;
	else
		netmon_stat_add(NETMON_STAT_ICMP_MAP_FULL, packets);
}

static __always_inline void add_to_flow(struct netmon_flow_counters *c, __u64 bytes,
					__u64 packets, __u64 now, struct packet_info *info)
{
	__sync_fetch_and_add(&c->bytes, bytes);
	__sync_fetch_and_add(&c->packets, packets);
	c->last_seen_ns = now;
	if (info->tcp_flags)
		__sync_fetch_and_or(&c->tcp_flags, info->tcp_flags);
	if (info->is_icmp) {
		c->icmp_type = info->icmp_type;
		c->icmp_code = info->icmp_code;
	}
}

/* A SYN or SYN-ACK starts a new connection on its ports: what user space
 * learned of the previous one's payload no longer holds. */
static __always_inline int starts_connection(const struct packet_info *info)
{
	return (info->tcp_flags & (NETMON_TCP_SYN_ONLY | NETMON_TCP_SYN_ACK)) != 0;
}

/* Forgets a direction's done mark when a new connection starts on it. A
 * lookup first: nearly every SYN finds no mark, and a lookup takes no
 * bucket lock where a delete does (the deletes were ~15 % of the TC
 * programs' time in a connection storm). */
static __always_inline void forget_payload_done(const struct netmon_flow_key *key)
{
	if (bpf_map_lookup_elem(&netmon_payload_done, key))
		bpf_map_delete_elem(&netmon_payload_done, key);
}

/* Counts the packet for its flow direction. Returns 1 when the packet is
 * to be sampled as one of the direction's first payloads: `wants_sample`
 * (it carries a payload and first-payload capture is on) and the
 * direction's budget for this generation is not spent. */
static __always_inline int count_flow(void *flows, struct netmon_flow_key *key, __u64 bytes,
				      __u64 packets, __u32 ifindex, __u32 hook,
				      struct packet_info *info, int wants_sample)
{
	/* An existing flow only moves its last_seen: the coarse clock (same
	 * CLOCK_MONOTONIC, tick resolution) costs a fraction of the precise one,
	 * which was ~45 ns of a ~290 ns program here. First packets take the
	 * precise clock, so which direction came first stays exact. User space
	 * clamps last_seen to first_seen (the coarse clock lags by < 1 tick). */
	struct netmon_flow_counters *c = bpf_map_lookup_elem(flows, key);
	if (c) {
		add_to_flow(c, bytes, packets, bpf_ktime_get_coarse_ns(), info);
		if (wants_sample >= 0 && starts_connection(info))
			forget_payload_done(key);
		/* Not atomic: two CPUs may both take the last sample, which only
		 * means one more sample. */
		if (wants_sample && c->payload_samples < NETMON_PAYLOAD_SAMPLES_PER_DIRECTION) {
			c->payload_samples++;
			return 1;
		}
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	struct netmon_flow_counters init = {
		.bytes = bytes,
		.packets = packets,
		.first_seen_ns = now,
		.last_seen_ns = now,
		.tcp_flags = info->tcp_flags,
		.ifindex = ifindex,
		.first_hook = hook,
		.icmp_type = info->icmp_type,
		.icmp_code = info->icmp_code,
		.payload_samples = NETMON_PAYLOAD_SAMPLES_PER_DIRECTION,
	};
	/* The first packet of a direction in this generation: the one place
	 * where the done map is read, so a long flow costs one lookup per
	 * flush interval, not one per packet. */
	int sample = 0;
	if (wants_sample >= 0) {
		int done = bpf_map_lookup_elem(&netmon_payload_done, key) != 0;
		if (done && starts_connection(info)) {
			bpf_map_delete_elem(&netmon_payload_done, key);
			done = 0;
		}
		if (!done) {
			init.payload_samples = wants_sample ? 1 : 0;
			sample = wants_sample;
		}
	}
	long err = bpf_map_update_elem(flows, key, &init, BPF_NOEXIST);
	if (err == 0)
		return sample;
	/* Another CPU created the entry between our lookup and update. */
	c = bpf_map_lookup_elem(flows, key);
	if (c) {
		add_to_flow(c, bytes, packets, now, info);
		return 0;
	}
	netmon_stat_add(NETMON_STAT_FLOW_MAP_FULL, 1);
	netmon_stat_add(NETMON_STAT_FLOW_MAP_FULL_BYTES, bytes);
	return 0;
}

static __always_inline int handle_packet(struct __sk_buff *skb, __u32 hook)
{
	__u32 ifindex = skb->ifindex;
	__u64 bytes = skb->len;
	/* A GSO/GRO skb stands for gso_segs packets on the wire. */
	__u64 packets = skb->gso_segs > 1 ? skb->gso_segs : 1;

	/* The agent registers an interface before attaching to it, so a miss
	 * only happens in the instant of a detach. */
	struct netmon_iface_config *cfg = bpf_map_lookup_elem(&netmon_ifaces, &ifindex);
	if (!cfg)
		return TC_ACT_UNSPEC_;
	count_interface(cfg->slot, hook, bytes, packets);
	if (!(cfg->flags & NETMON_IFACE_ACCOUNT_FLOWS))
		return TC_ACT_UNSPEC_;

	/* A packet leaving after it entered through a monitored interface (routed
	 * or bridged through this node: pod -> node -> pod) was counted for its
	 * flow at that ingress already; counting it again here would double it. */
	if (hook == NETMON_HOOK_EGRESS) {
		__u32 in_ifindex = skb->ingress_ifindex;
		if (in_ifindex != 0 && bpf_map_lookup_elem(&netmon_ifaces, &in_ifindex)) {
			netmon_stat_add(NETMON_STAT_FORWARDED_SKIPPED, 1);
			return TC_ACT_UNSPEC_;
		}
	}

	__u32 zero = 0;
	struct netmon_control *control = bpf_map_lookup_elem(&netmon_control, &zero);
	__u32 generation = control ? control->generation : 0;
	__u32 rate = control ? control->sampling_rate : 1;
	if (rate > 1) {
		/* Sampled: one packet in `rate` stands for `rate` packets, so sums
		 * stay unbiased estimates of the real counts. */
		if (bpf_get_prandom_u32() % rate != 0)
			return TC_ACT_UNSPEC_;
		bytes *= rate;
		packets *= rate;
	}

	/* Once per packet crossing the node, like the flow counters. */
	count_packet_size(bytes, packets);

	struct netmon_flow_key key = {};
	struct packet_info info = {};
	int parsed = netmon_parse_packet(skb, &key, &info);
	if (parsed == 1) {
		netmon_stat_add(NETMON_STAT_NON_IP, 1);
		return TC_ACT_UNSPEC_;
	}
	if (parsed < 0) {
		netmon_stat_add(NETMON_STAT_PARSE_TRUNCATED, 1);
		if (key.ip_version == 0)
			return TC_ACT_UNSPEC_;
	}

	if (info.is_icmp)
		count_icmp(&key, &info, packets);

	/* -1: first-payload capture is off (no done-map lookup), 0: on but
	 * this packet has no payload, 1: on and it has one. DNS packets are
	 * sampled on their own path, each one. */
	__u32 payload_flags = control ? control->payload_flags : 0;
	int dns = is_dns_packet(&key) && (payload_flags & NETMON_PAYLOAD_CAPTURE_DNS);
	int wants_sample = -1;
	if ((payload_flags & NETMON_PAYLOAD_CAPTURE_FIRST) && !dns &&
	    (key.protocol == IPPROTO_TCP_ || key.protocol == IPPROTO_UDP_))
		wants_sample = info.payload_len > 0;

	int sample;
	if (generation & 1)
		sample = count_flow(&netmon_flows_1, &key, bytes, packets, ifindex, hook, &info,
				    wants_sample);
	else
		sample = count_flow(&netmon_flows_0, &key, bytes, packets, ifindex, hook, &info,
				    wants_sample);
	if (sample > 0)
		send_payload_sample(skb, &key, info.payload_off, info.payload_len,
				    hook << 8 | NETMON_PAYLOAD_FIRST);
	else if (dns && info.payload_len > 0)
		send_payload_sample(skb, &key, info.payload_off, info.payload_len,
				    hook << 8 | NETMON_PAYLOAD_DNS);

	/* TC_ACT_UNSPEC: let the next program (TCX) or filter (clsact) and the
	 * stack decide; netmon never changes a packet's fate. */
	return TC_ACT_UNSPEC_;
}

SEC("classifier")
int netmon_tc_ingress(struct __sk_buff *skb)
{
	return handle_packet(skb, NETMON_HOOK_INGRESS);
}

SEC("classifier")
int netmon_tc_egress(struct __sk_buff *skb)
{
	return handle_packet(skb, NETMON_HOOK_EGRESS);
}

#endif /* NETMON_FLOW_COUNTER_BPF_H */
