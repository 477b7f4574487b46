// SPDX-License-Identifier: GPL-2.0
/* System calls by thread name and call, from the raw_syscalls:sys_enter
 * tracepoint. A per-CPU map: every CPU counts without contention and the
 * agent adds the CPUs up at scrape time. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct trace_entry {
	unsigned short type;
} __attribute__((preserve_access_index));

struct trace_event_raw_sys_enter {
	struct trace_entry ent;
	long id;
} __attribute__((preserve_access_index));

/* The map key, cut into labels by syscalls.yaml. */
struct syscall_key {
	char comm[16];
	__u64 syscall;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscalls_total SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscall(struct trace_event_raw_sys_enter *ctx)
{
	struct syscall_key key = {.syscall = BPF_CORE_READ(ctx, id)};
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	__u64 one = 1, *value = bpf_map_lookup_elem(&syscalls_total, &key);
	if (value)
		*value += 1; /* this CPU's own slot */
	else
		bpf_map_update_elem(&syscalls_total, &key, &one, BPF_NOEXIST);
	return 0;
}
