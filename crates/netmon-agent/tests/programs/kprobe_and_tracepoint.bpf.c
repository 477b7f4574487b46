// SPDX-License-Identifier: GPL-2.0
/* Test fixture: one object with a kprobe program, a program the verifier
 * refuses and a tracepoint program. On a kernel without kprobes the agent
 * must skip the kprobe and the refused program, each with its reason, and
 * run the tracepoint (entry state "degraded"). The tracepoint
 * also counts unlinkat calls by thread name under the address the agent
 * writes into kaddr_do_unlinkat (YAML `kaddrs`), which the `ksym` decoder
 * must name back; a `regexp` keeps only the test's threads. */

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

/* Filled by the agent before loading, from /proc/kallsyms. */
const volatile __u64 kaddr_do_unlinkat = 0;

struct unlink_key {
	__u64 function;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct unlink_key);
	__type(value, __u64);
} unlinkat_calls_total SEC(".maps");

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
int refused(void *ctx)
{
	/* A read through a null pointer: the verifier refuses the program. */
	volatile char *null = 0;
	return *null;
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int on_unlinkat(void *ctx)
{
	hit(0);
	struct unlink_key key = {.function = kaddr_do_unlinkat};
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	__u64 one = 1, *value = bpf_map_lookup_elem(&unlinkat_calls_total, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		bpf_map_update_elem(&unlinkat_calls_total, &key, &one, BPF_NOEXIST);
	return 0;
}
