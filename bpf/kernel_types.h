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

#endif /* NETMON_KERNEL_TYPES_H */
