/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Maps and helpers of the two packet-loss programs: TCP retransmissions
 * (tcp_retransmit.bpf.h) and kernel drops (skb_drop.bpf.h). Both count in
 * the kernel; nothing per retransmit or per drop reaches user space.
 *
 * Per-flow counts use the flow maps' discipline (docs/design.md): two
 * generations chosen by control.generation, the idle one drained by the
 * agent at every flush, so no increment is lost between copy and delete.
 * Totals (retransmitted segments, drops by reason and protocol) are
 * cumulative per-CPU counters the agent reads and never resets.
 */
#ifndef NETMON_LOSS_H
#define NETMON_LOSS_H

#include "maps.h"

/* Per-flow retransmitted segments: key netmon_flow_key (src = the
 * socket's local end), value __u64. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_LOSS_FLOW_MAP_ENTRIES);
	__type(key, struct netmon_flow_key);
	__type(value, __u64);
} netmon_retransmits_0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_LOSS_FLOW_MAP_ENTRIES);
	__type(key, struct netmon_flow_key);
	__type(value, __u64);
} netmon_retransmits_1 SEC(".maps");

/* Per-flow dropped packets by reason. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_LOSS_FLOW_MAP_ENTRIES);
	__type(key, struct netmon_flow_drop_key);
	__type(value, __u64);
} netmon_flow_drops_0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_LOSS_FLOW_MAP_ENTRIES);
	__type(key, struct netmon_flow_drop_key);
	__type(value, __u64);
} netmon_flow_drops_1 SEC(".maps");

/* Every drop by reason and protocol class, cumulative. Per-CPU: a drop
 * storm on several CPUs does not contend on one counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, NETMON_DROP_REASON_MAP_ENTRIES);
	__type(key, struct netmon_drop_reason_key);
	__type(value, __u64);
} netmon_drop_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETMON_LOSS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} netmon_loss_stats SEC(".maps");

static __always_inline void netmon_loss_stat_add(__u32 index, __u64 value)
{
	__u64 *counter = bpf_map_lookup_elem(&netmon_loss_stats, &index);
	if (counter)
		*counter += value; /* per-CPU slot: no other writer */
}

/* Whether the programs write into generation 1 (else 0) right now. */
static __always_inline int netmon_writing_generation_1(void)
{
	__u32 zero = 0;
	struct netmon_control *control = bpf_map_lookup_elem(&netmon_control, &zero);
	return control ? control->generation & 1 : 0;
}

/* Adds `n` to the __u64 counter of `key` in a per-flow map. Returns 0, or
 * -1 when the map is full (or the kernel is out of memory for a new
 * element): the caller counts that, so it is never silent. */
static __always_inline int netmon_flow_count_add(void *map, void *key, __u64 n)
{
	__u64 *count = bpf_map_lookup_elem(map, key);
	if (count) {
		__sync_fetch_and_add(count, n);
		return 0;
	}
	if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST) == 0)
		return 0;
	/* Another CPU created the entry between our lookup and update. */
	count = bpf_map_lookup_elem(map, key);
	if (count) {
		__sync_fetch_and_add(count, n);
		return 0;
	}
	return -1;
}

#endif /* NETMON_LOSS_H */
