// SPDX-License-Identifier: GPL-2.0
/* Test fixture: one object with a kprobe program and a tracepoint program.
 * On a kernel without kprobes the agent must skip the kprobe with its
 * reason and run the tracepoint (entry state "degraded"). */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits_total SEC(".maps");

static __always_inline void hit(__u32 source)
{
	__u64 *value = bpf_map_lookup_elem(&probe_hits_total, &source);
	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("kprobe/do_unlinkat")
int on_unlink(void *ctx)
{
	hit(1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int on_unlinkat(void *ctx)
{
	hit(0);
	return 0;
}
