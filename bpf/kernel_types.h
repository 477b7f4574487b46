/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The few kernel-internal structs netmon reads, declared with only the
 * fields it uses and marked preserve_access_index: the loader relocates each
 * field access against the running kernel's BTF (CO-RE), so the object
 * builds on any host and loads on any kernel with BTF, without a 2.8 MB
 * vmlinux.h.
 */
#ifndef NETMON_KERNEL_TYPES_H
#define NETMON_KERNEL_TYPES_H

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	int sk_err;
} __attribute__((preserve_access_index));

/* Layout of the tracepoint's record, from
 * /sys/kernel/tracing/events/sock/inet_sock_set_state/format. Tracepoint
 * records are a stable ABI, so this one is written out rather than
 * relocated. */
struct inet_sock_set_state_args {
	unsigned long long common;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

/* include/net/tcp_states.h */
enum {
	NETMON_TCP_ESTABLISHED = 1,
	NETMON_TCP_SYN_SENT = 2,
	NETMON_TCP_SYN_RECV = 3,
	NETMON_TCP_CLOSE = 7,
	NETMON_TCP_LISTEN = 10,
};

/* ---- Packet loss (loss.h, tcp_retransmit.bpf.h, skb_drop.bpf.h) ---- */

/* Only the reasons the programs test are named here, for
 * bpf_core_enum_value(): their numbers differ between kernels and older
 * ones do not have them (QUEUE_PURGE: Linux 6.8+). */
enum skb_drop_reason {
	SKB_CONSUMED = 1,
	SKB_DROP_REASON_QUEUE_PURGE = 105,
};

struct sk_buff {
	unsigned int len;
	__u16 protocol; /* __be16 */
	unsigned char *head;
	__u16 transport_header;
	__u16 network_header;
	char cb[48];
} __attribute__((preserve_access_index));

/* TCP's per-skb control block, which lives in sk_buff.cb. */
struct tcp_skb_cb {
	__u32 seq;
	__u32 end_seq;
	union {
		__u32 tcp_tw_isn;
		struct {
			__u16 tcp_gso_segs;
			__u16 tcp_gso_size;
		};
	};
} __attribute__((preserve_access_index));

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __attribute__((preserve_access_index));

/* Tracepoint records as the kernel's BTF describes them
 * (trace_event_raw_<event>). Unlike inet_sock_set_state_args above, these
 * are relocated against the running kernel. tcp_retransmit_skb's record
 * changed: newer kernels (~6.10+) give it a record of its own with err;
 * older ones share the tcp_event_sk_skb class's record. */
struct trace_event_raw_tcp_event_sk_skb {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
	__u16 sport;
	__u16 dport;
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_retransmit_skb {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
	int err;
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_retransmit_synack {
	struct trace_entry ent;
	const void *skaddr;
	const void *req;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

#endif /* NETMON_KERNEL_TYPES_H */
