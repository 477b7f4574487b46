// SPDX-License-Identifier: GPL-2.0
/* TCP connect latency by destination /24 and outcome, as an exp2 histogram
 * in microseconds. Kernels without kprobes (and this one has none) still
 * have the sock:inet_sock_set_state tracepoint: a client socket enters
 * SYN_SENT when connect() sends the SYN, and leaves it for ESTABLISHED
 * (answered) or CLOSE (refused by a RST, timed out, or aborted). IPv4 only:
 * a /24 of an IPv6 address means nothing. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "exporter_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2

/* The bucket past the last one holds the sum of all latencies (ebpf_exporter's
 * convention), so Prometheus gets a real _sum. */
#define MAX_BUCKET 26

struct trace_entry {
	unsigned short type;
} __attribute__((preserve_access_index));

/* Relocated against the running kernel's BTF (CO-RE). */
struct trace_event_raw_inet_sock_set_state {
	struct trace_entry ent;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 family;
	__u16 protocol;
	__u8 daddr[4];
} __attribute__((preserve_access_index));

/* The map key, cut into labels by tcp_connect_latency.yaml. */
struct connect_key {
	__u8 subnet[4];  /* destination address with the last octet zeroed */
	__u8 outcome;    /* 0 established, 1 failed */
	__u8 pad[3];
	__u64 bucket;    /* log2 of the latency in microseconds */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);   /* socket address */
	__type(value, __u64); /* SYN sent, ns */
} connect_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct connect_key);
	__type(value, __u64);
} tcp_connect_latency_seconds SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_connect_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP || BPF_CORE_READ(ctx, family) != AF_INET)
		return 0;
	__u64 sk = (__u64)BPF_CORE_READ(ctx, skaddr);
	int oldstate = BPF_CORE_READ(ctx, oldstate);
	int newstate = BPF_CORE_READ(ctx, newstate);

	if (newstate == TCP_SYN_SENT) {
		__u64 now = bpf_ktime_get_ns();
		bpf_map_update_elem(&connect_start, &sk, &now, BPF_ANY);
		return 0;
	}
	if (oldstate != TCP_SYN_SENT)
		return 0;
	__u64 *start = bpf_map_lookup_elem(&connect_start, &sk);
	if (!start)
		return 0; /* the SYN was sent before the program was attached */
	__u64 latency_us = (bpf_ktime_get_ns() - *start) / 1000;
	bpf_map_delete_elem(&connect_start, &sk);

	struct connect_key key = {};
	/* An array in a tracepoint record must be copied with a CO-RE read. */
	bpf_core_read(&key.subnet, sizeof(key.subnet), &ctx->daddr);
	key.subnet[3] = 0;
	key.outcome = newstate == TCP_ESTABLISHED ? 0 : 1;
	__u64 bucket = log2_u64(latency_us);
	key.bucket = bucket > MAX_BUCKET ? MAX_BUCKET : bucket;
	increment_map(&tcp_connect_latency_seconds, &key, 1);
	key.bucket = MAX_BUCKET + 1;
	increment_map(&tcp_connect_latency_seconds, &key, latency_us);
	return 0;
}
