/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * TCP retransmissions from the tracepoints tcp:tcp_retransmit_skb (data,
 * SYN and FIN segments of a socket) and tcp:tcp_retransmit_synack (a
 * listener's SYN-ACK for a connection still in its handshake). Together
 * they see what the kernel counts as TcpRetransSegs, segment for segment.
 * Retransmissions are rare next to packets, so the classic tracepoints
 * (whose records name the connection) cost little.
 */
#ifndef NETMON_TCP_RETRANSMIT_BPF_H
#define NETMON_TCP_RETRANSMIT_BPF_H

#include "loss.h"
#include "kernel_types.h"

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

/* Fills a flow key from a tcp:* record's addresses, which hold both
 * families in the IPv6 arrays (IPv4 mapped), the key's own form. The
 * version comes from the address, not the socket's family: a dual-stack
 * socket talking to an IPv4 peer sends IPv4 packets, and that is the flow
 * TC counted. Arrays of a record are copied with a helper (the verifier
 * refuses a copy from a moved ctx pointer). */
static __always_inline void retransmit_key(struct netmon_flow_key *key, const void *saddr_v6,
					   const void *daddr_v6, __u16 sport, __u16 dport)
{
	bpf_probe_read_kernel(key->src_addr, 16, saddr_v6);
	bpf_probe_read_kernel(key->dst_addr, 16, daddr_v6);
	key->src_port = sport;
	key->dst_port = dport;
	key->protocol = NETMON_IPPROTO_TCP;
	int mapped = key->src_addr[10] == 0xff && key->src_addr[11] == 0xff;
#pragma unroll
	for (int i = 0; i < 10; i++)
		mapped = mapped && key->src_addr[i] == 0;
	key->ip_version = mapped ? 4 : 6;
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
int netmon_tcp_retransmit(void *ctx)
{
	struct netmon_flow_key key = {};
	const void *skbaddr;
	/* Which record the kernel has is a relocation constant: the verifier
	 * only ever sees the branch of the running kernel. */
	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb)) {
		struct trace_event_raw_tcp_retransmit_skb *args = ctx;
		/* This record also reports retransmissions that were not sent
		 * (err != 0: the original still queued in the host, no memory,
		 * ...); only segments that left are retransmissions on the wire. */
		if (bpf_core_field_exists(args->err) && args->err != 0)
			return 0;
		skbaddr = args->skbaddr;
		retransmit_key(&key, args->saddr_v6, args->daddr_v6, args->sport, args->dport);
	} else {
		/* Older kernels fire only for sent retransmissions. */
		struct trace_event_raw_tcp_event_sk_skb *args = ctx;
		skbaddr = args->skbaddr;
		retransmit_key(&key, args->saddr_v6, args->daddr_v6, args->sport, args->dport);
	}
	count_retransmit(&key, tcp_skb_segments(skbaddr));
	return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int netmon_tcp_retransmit_synack(struct trace_event_raw_tcp_retransmit_synack *ctx)
{
	/* Fired only once the SYN-ACK was sent; it is one segment. */
	struct netmon_flow_key key = {};
	retransmit_key(&key, ctx->saddr_v6, ctx->daddr_v6, ctx->sport, ctx->dport);
	count_retransmit(&key, 1);
	return 0;
}

#endif /* NETMON_TCP_RETRANSMIT_BPF_H */
