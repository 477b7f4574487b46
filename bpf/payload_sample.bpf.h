/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Payload samples for DNS and application-protocol detection: the first
 * NETMON_PAYLOAD_CAPTURE_BYTES of a packet's L4 payload, sent to user space
 * through their own ring buffer (a burst of DNS cannot crowd out TCP
 * lifecycle events). The kernel only picks and copies; user space decodes,
 * keeps the few classified fields and forgets the bytes.
 *
 * Which packets (decided in flow_counter.bpf.h, where the flow entry is
 * already at hand):
 * - every TCP/UDP packet to or from port 53 with a payload, when DNS
 *   capture is on;
 * - otherwise, the first NETMON_PAYLOAD_SAMPLES_PER_DIRECTION payloads of a
 *   flow direction per flow-map generation, until user space has put the
 *   direction in netmon_payload_done. The budget lives in the flow entry,
 *   so a packet of a direction already sampled costs one compare.
 */
#ifndef NETMON_PAYLOAD_SAMPLE_BPF_H
#define NETMON_PAYLOAD_SAMPLE_BPF_H

#include "maps.h"

#define NETMON_DNS_PORT 53
#define NETMON_IPPROTO_TCP 6
#define NETMON_IPPROTO_UDP 17
/* Ask for a wakeup only when this much waits, like the TCP events: the
 * agent reads the ring on a timer. */
#define PAYLOAD_WAKEUP_THRESHOLD_BYTES (NETMON_PAYLOAD_RINGBUF_BYTES / 4)

static __always_inline int is_dns_packet(const struct netmon_flow_key *key)
{
	return (key->protocol == NETMON_IPPROTO_UDP || key->protocol == NETMON_IPPROTO_TCP) &&
	       (key->src_port == NETMON_DNS_PORT || key->dst_port == NETMON_DNS_PORT);
}

/* A global function, verified once on its own: inlined, the bounds of the
 * copy's length made the verifier track every parse path's payload
 * offsets precisely, and the TC programs exceeded its 1M-instruction
 * budget. Its arguments are checked here, not trusted from the caller.
 * BPF calls take five arguments: `hook_kind` is hook << 8 | kind, and the
 * interface is the skb's own. */
__attribute__((noinline)) int send_payload_sample(struct __sk_buff *skb,
						  const struct netmon_flow_key *key,
						  __u32 payload_off, __u32 payload_len,
						  __u32 hook_kind)
{
	if (!skb || !key)
		return 0;
	struct netmon_payload_sample *s =
		bpf_ringbuf_reserve(&netmon_payloads, sizeof(*s), 0);
	if (!s) {
		netmon_stat_add(NETMON_STAT_PAYLOAD_DROPPED, 1);
		return 0;
	}
	s->timestamp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(&s->key, key, sizeof(s->key));
	s->ifindex = skb->ifindex;
	s->payload_len = payload_len;
	s->kind = hook_kind & 0xff;
	s->hook = (hook_kind >> 8) & 0xff;
	s->_pad = 0;
	__u32 len = payload_len;
	if (len > NETMON_PAYLOAD_CAPTURE_BYTES)
		len = NETMON_PAYLOAD_CAPTURE_BYTES;
	/* Keep the bounds the verifier needs for a variable-size copy
	 * (1..NETMON_PAYLOAD_CAPTURE_BYTES) in the register it checks. */
	barrier_var(len);
	if (len >= 1 && len <= NETMON_PAYLOAD_CAPTURE_BYTES &&
	    bpf_skb_load_bytes(skb, payload_off, s->data, len) == 0)
		s->captured_len = len;
	else
		s->captured_len = 0;
	netmon_stat_add(NETMON_STAT_PAYLOAD_SENT, 1);
	__u64 flags = bpf_ringbuf_query(&netmon_payloads, BPF_RB_AVAIL_DATA) >=
				      PAYLOAD_WAKEUP_THRESHOLD_BYTES
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(s, flags);
	return 1;
}

#endif /* NETMON_PAYLOAD_SAMPLE_BPF_H */
