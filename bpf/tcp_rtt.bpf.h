/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Per-connection smoothed RTT from the tcp:tcp_probe tracepoint, which the
 * kernel fires in tcp_rcv_established() for every segment an established
 * socket receives, with the socket's srtt in microseconds (srtt_us >> 3).
 * It fires per received segment, so the program does the least it can: a
 * handful of loads from the record, one hash lookup and an in-place update.
 * The agent drains the map every flush interval (min, max, last, sum and
 * count of the readings since the previous drain).
 *
 * No atomics: tcp_rcv_established() runs with the socket owned (softirq
 * under bh_lock_sock, or the backlog at release_sock), so the readings of
 * one socket, hence of one key, never run concurrently.
 */
#ifndef NETMON_TCP_RTT_BPF_H
#define NETMON_TCP_RTT_BPF_H

#include "maps.h"

#define RTT_AF_INET 2
#define RTT_AF_INET6 10
#define RTT_IPPROTO_TCP 6
#define RTT_EEXIST 17

/* The two RTT map generations, selected by control.generation like the flow
 * maps, so a drain never races a writer (see docs/design.md). Not
 * preallocated: an entry is created once per socket and drain, and the
 * memory then follows the connections that exist (none when the tracepoint
 * is off) instead of max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_DEFAULT_RTT_MAP_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct netmon_flow_key);
	__type(value, struct netmon_rtt_stats);
} netmon_rtt_0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_DEFAULT_RTT_MAP_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct netmon_flow_key);
	__type(value, struct netmon_rtt_stats);
} netmon_rtt_1 SEC(".maps");

/* The tracepoint's record, from /sys/kernel/tracing/events/tcp/tcp_probe/
 * format. saddr/daddr are a struct sockaddr_in or sockaddr_in6 (28 bytes),
 * written out here field by field so every read is one load at a constant
 * offset from the context (no helper call per address). The agent checks
 * these offsets against the running kernel's format file before attaching,
 * because tracepoint records, unlike BTF types, are not relocated. */
struct netmon_tcp_probe_args {
	unsigned long long common; /* 0 */
	__u16 saddr_family; /* 8 */
	__u16 saddr_port_be;
	__u32 saddr_v4; /* 12: sin_addr, or sin6_flowinfo for AF_INET6 */
	__u32 saddr_v6[4]; /* 16: sin6_addr */
	__u32 saddr_scope_id;
	__u16 daddr_family; /* 36 */
	__u16 daddr_port_be;
	__u32 daddr_v4; /* 40 */
	__u32 daddr_v6[4]; /* 44 */
	__u32 daddr_scope_id;
	__u16 sport; /* 64, host byte order */
	__u16 dport; /* 66 */
	__u16 family; /* 68 */
	__u16 _pad0;
	__u32 mark; /* 72 */
	__u16 data_len; /* 76 */
	__u16 _pad1;
	__u32 snd_nxt; /* 80 */
	__u32 snd_una;
	__u32 snd_cwnd;
	__u32 ssthresh;
	__u32 snd_wnd;
	__u32 srtt; /* 100: microseconds */
	__u32 rcv_wnd;
};

_Static_assert(__builtin_offsetof(struct netmon_tcp_probe_args, daddr_family) == 36,
	       "tcp_probe daddr offset");
_Static_assert(__builtin_offsetof(struct netmon_tcp_probe_args, sport) == 64,
	       "tcp_probe sport offset");
_Static_assert(__builtin_offsetof(struct netmon_tcp_probe_args, family) == 68,
	       "tcp_probe family offset");
_Static_assert(__builtin_offsetof(struct netmon_tcp_probe_args, srtt) == 100,
	       "tcp_probe srtt offset");

/* IPv4 stored IPv4-mapped (::ffff:a.b.c.d), the ABI's address form. */
static __always_inline void rtt_v4_mapped(__u32 *dst, __u32 v4_be)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0x0000ffff);
	dst[3] = v4_be;
}

static __always_inline void rtt_record(void *map, struct netmon_flow_key *key, __u32 srtt)
{
	struct netmon_rtt_stats *stats = bpf_map_lookup_elem(map, key);
	if (stats) {
		stats->sum_us += srtt;
		stats->samples += 1;
		if (srtt < stats->min_us)
			stats->min_us = srtt;
		if (srtt > stats->max_us)
			stats->max_us = srtt;
		stats->last_us = srtt;
		return;
	}
	struct netmon_rtt_stats first = {
		.sum_us = srtt,
		.samples = 1,
		.min_us = srtt,
		.max_us = srtt,
		.last_us = srtt,
	};
	long err = bpf_map_update_elem(map, key, &first, BPF_NOEXIST);
	/* EEXIST cannot happen for one socket (see above); a second socket
	 * with the same 5-tuple in another namespace may win the insert, and
	 * losing that race loses one reading, not the map's capacity. */
	if (err != 0 && err != -RTT_EEXIST)
		netmon_stat_add(NETMON_STAT_RTT_MAP_FULL, 1);
}

SEC("tracepoint/tcp/tcp_probe")
int netmon_tcp_rtt(struct netmon_tcp_probe_args *ctx)
{
	__u32 srtt = ctx->srtt;
	/* 0: no RTT measured yet on this socket; it is not a reading. */
	if (srtt == 0)
		return 0;
	__u16 family = ctx->family;

	struct netmon_flow_key key = {};
	__u32 *src = (__u32 *)key.src_addr;
	__u32 *dst = (__u32 *)key.dst_addr;
	if (family == RTT_AF_INET) {
		rtt_v4_mapped(src, ctx->saddr_v4);
		rtt_v4_mapped(dst, ctx->daddr_v4);
		key.ip_version = 4;
	} else if (family == RTT_AF_INET6) {
		src[0] = ctx->saddr_v6[0];
		src[1] = ctx->saddr_v6[1];
		src[2] = ctx->saddr_v6[2];
		src[3] = ctx->saddr_v6[3];
		dst[0] = ctx->daddr_v6[0];
		dst[1] = ctx->daddr_v6[1];
		dst[2] = ctx->daddr_v6[2];
		dst[3] = ctx->daddr_v6[3];
		key.ip_version = 6;
	} else {
		return 0;
	}
	key.src_port = ctx->sport;
	key.dst_port = ctx->dport;
	key.protocol = RTT_IPPROTO_TCP;

	__u32 zero = 0;
	struct netmon_control *control = bpf_map_lookup_elem(&netmon_control, &zero);
	__u32 generation = control ? control->generation : 0;
	if (generation & 1)
		rtt_record(&netmon_rtt_1, &key, srtt);
	else
		rtt_record(&netmon_rtt_0, &key, srtt);
	return 0;
}

#endif /* NETMON_TCP_RTT_BPF_H */
