// SPDX-License-Identifier: GPL-2.0
/* Test fixture: one program of each further kind the agent attaches by
 * section name, counting into one map by kind and thread name:
 * - a raw tracepoint on sys_enter counting getppid system calls,
 * - a BTF-typed tracepoint (tp_btf) on sys_enter counting the same,
 * - a uprobe on libc's getppid() function,
 * - a TCX classifier counting ICMP echo requests entering an interface the
 *   programs entry lists. It returns TCX_NEXT, so the programs after it on
 *   the interface (netmon's own) still see every packet. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define GETPPID_X86_64 110
#define TCX_NEXT -1
#define PROTO_ICMP 1
#define ICMP_ECHO_REQUEST 8

/* linux/icmp.h pulls in libc's headers; the three fields read are these. */
struct icmp_header {
	__u8 type;
	__u8 code;
	__u16 checksum;
};

struct kind_key {
	__u32 kind; /* 0 raw tracepoint, 1 uprobe, 2 classifier, 3 tp_btf */
	__u32 pad;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct kind_key);
	__type(value, __u64);
} attach_kinds_total SEC(".maps");

static __always_inline void count(__u32 kind, int with_comm)
{
	struct kind_key key = {.kind = kind};
	if (with_comm)
		bpf_get_current_comm(&key.comm, sizeof(key.comm));
	__u64 one = 1, *value = bpf_map_lookup_elem(&attach_kinds_total, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		bpf_map_update_elem(&attach_kinds_total, &key, &one, BPF_NOEXIST);
}

SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	/* sys_enter(struct pt_regs *regs, long id) */
	if (ctx->args[1] == GETPPID_X86_64)
		count(0, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int btf_sys_enter(__u64 *ctx)
{
	/* The same arguments, typed by the kernel's BTF: (regs, id). */
	if (ctx[1] == GETPPID_X86_64)
		count(3, 1);
	return 0;
}

SEC("uprobe//lib/x86_64-linux-gnu/libc.so.6:getppid")
int libc_getppid(void *ctx)
{
	count(1, 1);
	return 0;
}

SEC("classifier/ingress")
int echo_requests(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TCX_NEXT;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != PROTO_ICMP)
		return TCX_NEXT;
	struct icmp_header *icmp = (void *)ip + ip->ihl * 4;
	if ((void *)(icmp + 1) > end)
		return TCX_NEXT;
	if (icmp->type == ICMP_ECHO_REQUEST)
		count(2, 0);
	return TCX_NEXT;
}
