/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Map definitions shared by netmon's programs; all of them live in one
 * object so the programs share one instance of each map. */
#ifndef NETMON_MAPS_H
#define NETMON_MAPS_H

#include "netmon_abi.h"

/* The two flow-map generations (see NETMON_FLOW_GENERATIONS). Not
 * preallocated: the generation being written holds an interval's flows and
 * the other one is empty once drained, so preallocating both for
 * max_entries locked twice the memory the flows need (2 x 152.8 B per flow
 * at 1M flows; BENCHMARKS.md). Only the TC programs write them, which may
 * allocate map elements on every kernel netmon supports. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_DEFAULT_FLOW_MAP_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct netmon_flow_key);
	__type(value, struct netmon_flow_counters);
} netmon_flows_0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_DEFAULT_FLOW_MAP_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct netmon_flow_key);
	__type(value, struct netmon_flow_counters);
} netmon_flows_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netmon_control);
} netmon_control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_IFACE_MAP_ENTRIES);
	__type(key, __u32);
	__type(value, struct netmon_iface_config);
} netmon_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETMON_IFACE_SLOTS * 2);
	__type(key, __u32);
	__type(value, struct netmon_iface_counters);
} netmon_iface_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETMON_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} netmon_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NETMON_EVENTS_RINGBUF_BYTES);
} netmon_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NETMON_CONN_MAP_ENTRIES);
	__type(key, __u64);
	__type(value, struct netmon_conn_state);
} netmon_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETMON_PACKET_SIZE_BUCKETS);
	__type(key, __u32);
	__type(value, struct netmon_size_bucket);
} netmon_packet_sizes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, NETMON_ICMP_MAP_ENTRIES);
	__type(key, struct netmon_icmp_key);
	__type(value, __u64);
} netmon_icmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, NETMON_PAYLOAD_RINGBUF_BYTES);
} netmon_payloads SEC(".maps");

/* Flow directions user space needs no more payload samples of (value
 * unused). LRU: the kernel never fails to insert, it forgets the oldest. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NETMON_DEFAULT_PAYLOAD_DONE_ENTRIES);
	__type(key, struct netmon_flow_key);
	__type(value, __u8);
} netmon_payload_done SEC(".maps");

static __always_inline void netmon_stat_add(__u32 index, __u64 value)
{
	__u64 *counter = bpf_map_lookup_elem(&netmon_stats, &index);
	if (counter)
		*counter += value; /* per-CPU slot: no other writer */
}

#endif /* NETMON_MAPS_H */
