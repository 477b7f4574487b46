/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * TCP retransmissions from the tracepoints tcp:tcp_retransmit_skb (data,
 * SYN and FIN segments of a socket) and tcp:tcp_retransmit_synack (a
 * listener's SYN-ACK for a connection still in its handshake). Together
 * they see what the kernel counts as TcpRetransSegs, segment for segment.
 */
#ifndef NETMON_TCP_RETRANSMIT_BPF_H
#define NETMON_TCP_RETRANSMIT_BPF_H

#include "loss.h"
#include "kernel_types.h"

#define NETMON_AF_INET 2
#define NETMON_IPPROTO_TCP 6

/* Segments a retransmitted skb stands for: TCP keeps its own GSO segment
 * count in the skb's control block (tcp_skb_pcount()), the number
 * TcpRetransSegs adds. */
static __always_inline __u64 tcp_skb_segments(const void *skbaddr)
{
	struct sk_buff *skb = (struct sk_buff *)skbaddr;
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)skb->cb;
	__u16 segs = BPF_CORE_READ(cb, tcp_gso_segs);
	return segs ? segs : 1;
}

static __always_inline void count_retransmit(struct netmon_flow_key *key, __u64 segments)
{
	netmon_loss_stat_add(NETMON_LOSS_STAT_RETRANSMITS, segments);
	/* A constant map per call lets the verifier inline the lookups. */
	int full = netmon_writing_generation_1()
			   ? netmon_flow_count_add(&netmon_retransmits_1, key, segments)
			   : netmon_flow_count_add(&netmon_retransmits_0, key, segments);
	if (full < 0)
		netmon_loss_stat_add(NETMON_LOSS_STAT_RETRANSMIT_MAP_FULL, segments);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int netmon_tcp_retransmit(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	/* Newer kernels also report retransmissions that were not sent
	 * (err != 0: the original still queued in the host, no memory, ...);
	 * only segments that left are retransmissions on the wire. */
	if (bpf_core_field_exists(ctx->err) && ctx->err != 0)
		return 0;

	struct netmon_flow_key key = {};
	/* Both families' addresses are in saddr_v6/daddr_v6 (IPv4 mapped),
	 * which is the key's form. Arrays of a tracepoint record are copied
	 * with a helper (the verifier refuses a copy from a moved ctx). */
	bpf_probe_read_kernel(key.src_addr, 16, ctx->saddr_v6);
	bpf_probe_read_kernel(key.dst_addr, 16, ctx->daddr_v6);
	key.src_port = ctx->sport;
	key.dst_port = ctx->dport;
	key.protocol = NETMON_IPPROTO_TCP;
	key.ip_version = ctx->family == NETMON_AF_INET ? 4 : 6;
	count_retransmit(&key, tcp_skb_segments(ctx->skbaddr));
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int netmon_tcp_retransmit_synack(struct trace_event_raw_tcp_retransmit_synack *ctx)
{
	/* Fired only once the SYN-ACK was sent; it is one segment. */
	struct netmon_flow_key key = {};
	bpf_probe_read_kernel(key.src_addr, 16, ctx->saddr_v6);
	bpf_probe_read_kernel(key.dst_addr, 16, ctx->daddr_v6);
	key.src_port = ctx->sport;
	key.dst_port = ctx->dport;
	key.protocol = NETMON_IPPROTO_TCP;
	key.ip_version = ctx->family == NETMON_AF_INET ? 4 : 6;
	count_retransmit(&key, 1);
	return 0;
}

#endif /* NETMON_TCP_RETRANSMIT_BPF_H */
