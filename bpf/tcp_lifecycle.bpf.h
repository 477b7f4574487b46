/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * TCP connection lifecycle from the sock:inet_sock_set_state tracepoint.
 * A connection produces a handful of events (open, established, close), so
 * they go to user space through a ring buffer; a full ring buffer is
 * counted, never silent. Handshake latency and duration are measured here,
 * with the kernel's clock, not from when user space happens to read.
 */
#ifndef NETMON_TCP_LIFECYCLE_BPF_H
#define NETMON_TCP_LIFECYCLE_BPF_H

#include "maps.h"
#include "kernel_types.h"

#define IPPROTO_TCP_LC 6
#define AF_INET_ 2

/* Events are submitted without waking the agent, which reads the ring every
 * 10 ms anyway; a wakeup per event (irq_work plus an epoll round trip) was
 * the largest cost of a connection storm. Once this much is waiting, the
 * agent is woken at once so a burst cannot fill the ring between reads. */
#define WAKEUP_THRESHOLD_BYTES (NETMON_EVENTS_RINGBUF_BYTES / 4)

static __always_inline void emit_tcp_event(struct inet_sock_set_state_args *ctx, __u8 kind,
					   __u64 now, __u64 duration_ns, __u64 latency_ns)
{
	struct netmon_tcp_event *ev = bpf_ringbuf_reserve(&netmon_events, sizeof(*ev), 0);
	if (!ev) {
		netmon_stat_add(NETMON_STAT_EVENTS_DROPPED, 1);
		return;
	}
	struct sock *sk = (struct sock *)ctx->skaddr;

	ev->timestamp_ns = now;
	ev->sock_id = (__u64)ctx->skaddr;
	ev->duration_ns = duration_ns;
	ev->connect_latency_ns = latency_ns;
	/* The tracepoint fills saddr_v6/daddr_v6 for both families (IPv4 as
	 * IPv4-mapped), which is exactly the ABI's address form. Arrays in a
	 * tracepoint record must be copied with a helper (the verifier refuses
	 * a plain copy from a modified ctx pointer). */
	bpf_probe_read_kernel(ev->src_addr, 16, ctx->saddr_v6);
	bpf_probe_read_kernel(ev->dst_addr, 16, ctx->daddr_v6);
	ev->src_port = ctx->sport;
	ev->dst_port = ctx->dport;
	ev->netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	ev->kind = kind;
	ev->ip_version = ctx->family == AF_INET_ ? 4 : 6;
	ev->old_state = (__u8)ctx->oldstate;
	ev->new_state = (__u8)ctx->newstate;
	ev->sk_err = BPF_CORE_READ(sk, sk_err);
	__u64 flags = bpf_ringbuf_query(&netmon_events, BPF_RB_AVAIL_DATA) >= WAKEUP_THRESHOLD_BYTES
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(ev, flags);
	netmon_stat_add(NETMON_STAT_EVENTS_SENT, 1);
}

SEC("tracepoint/sock/inet_sock_set_state")
int netmon_tcp_state(struct inet_sock_set_state_args *ctx)
{
	if (ctx->protocol != IPPROTO_TCP_LC)
		return 0;

	int oldstate = ctx->oldstate;
	int newstate = ctx->newstate;
	/* Half of a connection's state changes (FIN_WAIT*, CLOSE_WAIT,
	 * LAST_ACK, CLOSING, TIME_WAIT) say nothing netmon reports. */
	if (newstate != NETMON_TCP_SYN_SENT && newstate != NETMON_TCP_SYN_RECV &&
	    newstate != NETMON_TCP_ESTABLISHED && newstate != NETMON_TCP_CLOSE)
		return 0;
	__u64 sock_id = (__u64)ctx->skaddr;
	__u64 now = bpf_ktime_get_ns();

	if (newstate == NETMON_TCP_SYN_SENT || newstate == NETMON_TCP_SYN_RECV) {
		struct netmon_conn_state state = {
			.opened_ns = now,
			.active = newstate == NETMON_TCP_SYN_SENT,
		};
		if (bpf_map_update_elem(&netmon_conns, &sock_id, &state, BPF_ANY) != 0)
			netmon_stat_add(NETMON_STAT_CONN_MAP_FULL, 1);
		if (newstate == NETMON_TCP_SYN_SENT)
			emit_tcp_event(ctx, NETMON_TCP_OPENED_ACTIVE, now, 0, 0);
		return 0;
	}

	if (newstate == NETMON_TCP_ESTABLISHED) {
		struct netmon_conn_state *state = bpf_map_lookup_elem(&netmon_conns, &sock_id);
		if (oldstate == NETMON_TCP_SYN_SENT) {
			__u64 latency = 0;
			if (state) {
				latency = now - state->opened_ns;
				state->connect_latency_ns = latency;
			}
			emit_tcp_event(ctx, NETMON_TCP_ESTABLISHED_ACTIVE, now, 0, latency);
		} else if (oldstate == NETMON_TCP_SYN_RECV) {
			emit_tcp_event(ctx, NETMON_TCP_ACCEPTED, now, 0, 0);
		}
		return 0;
	}

	if (newstate == NETMON_TCP_CLOSE && oldstate != NETMON_TCP_LISTEN) {
		struct netmon_conn_state *state = bpf_map_lookup_elem(&netmon_conns, &sock_id);
		__u64 duration = 0, latency = 0;
		if (state) {
			duration = now - state->opened_ns;
			latency = state->connect_latency_ns;
		}
		__u8 kind = (oldstate == NETMON_TCP_SYN_SENT || oldstate == NETMON_TCP_SYN_RECV)
				    ? NETMON_TCP_FAILED
				    : NETMON_TCP_CLOSED;
		emit_tcp_event(ctx, kind, now, duration, latency);
		bpf_map_delete_elem(&netmon_conns, &sock_id);
	}
	return 0;
}

#endif /* NETMON_TCP_LIFECYCLE_BPF_H */
