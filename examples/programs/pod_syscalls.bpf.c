// SPDX-License-Identifier: GPL-2.0
/* System calls by Kubernetes pod and container: the key is the calling
 * task's cgroup v2 id, which netmon's `kubernetes` decoder turns into the
 * namespace, pod and container labels (the kubelet names a pod's cgroup
 * after the pod's UID, the runtime a container's after its id). Processes
 * outside pods add up under empty labels, so the series stay bounded by
 * the containers on the node. */

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

/* The map key, cut into labels by pod_syscalls.yaml. */
struct pod_syscall_key {
	__u64 cgroup;
	__u64 syscall;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct pod_syscall_key);
	__type(value, __u64);
} pod_syscalls_total SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_pod_syscall(struct trace_event_raw_sys_enter *ctx)
{
	struct pod_syscall_key key = {
		.cgroup = bpf_get_current_cgroup_id(),
		.syscall = BPF_CORE_READ(ctx, id),
	};
	__u64 one = 1, *value = bpf_map_lookup_elem(&pod_syscalls_total, &key);
	if (value)
		*value += 1; /* this CPU's own slot */
	else
		bpf_map_update_elem(&pod_syscalls_total, &key, &one, BPF_NOEXIST);
	return 0;
}
