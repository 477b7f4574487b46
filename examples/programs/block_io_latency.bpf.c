// SPDX-License-Identifier: GPL-2.0
/* Block I/O latency by device and operation, from the block:block_rq_issue
 * and block:block_rq_complete tracepoints (no kprobes needed). A request is
 * matched from issue to completion by device and first sector, which the
 * two records share. */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "exporter_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define MAX_BUCKET 26

struct trace_entry {
	unsigned short type;
} __attribute__((preserve_access_index));

/* Both records, relocated against the running kernel's BTF: their layouts
 * differ between kernel versions (ioprio was added in 6.x). */
struct trace_event_raw_block_rq {
	struct trace_entry ent;
	__u32 dev;
	__u64 sector;
	char rwbs[10];
} __attribute__((preserve_access_index));

struct trace_event_raw_block_rq_completion {
	struct trace_entry ent;
	__u32 dev;
	__u64 sector;
	char rwbs[10];
} __attribute__((preserve_access_index));

struct request_key {
	__u32 dev;
	__u32 pad;
	__u64 sector;
};

/* The map key, cut into labels by block_io_latency.yaml. */
struct io_key {
	__u32 dev;      /* kernel dev_t: major << 20 | minor */
	__u8 op;        /* first letter of rwbs: R, W, F(lush), D(iscard), N */
	__u8 pad[3];
	__u64 bucket;   /* log2 of the latency in microseconds */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct request_key);
	__type(value, __u64);
} request_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct io_key);
	__type(value, __u64);
} block_io_latency_seconds SEC(".maps");

SEC("tracepoint/block/block_rq_issue")
int block_issue(struct trace_event_raw_block_rq *ctx)
{
	struct request_key key = {
		.dev = BPF_CORE_READ(ctx, dev),
		.sector = BPF_CORE_READ(ctx, sector),
	};
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&request_start, &key, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int block_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct request_key request = {
		.dev = BPF_CORE_READ(ctx, dev),
		.sector = BPF_CORE_READ(ctx, sector),
	};
	__u64 *start = bpf_map_lookup_elem(&request_start, &request);
	if (!start)
		return 0; /* issued before the program was attached */
	__u64 latency_us = (bpf_ktime_get_ns() - *start) / 1000;
	bpf_map_delete_elem(&request_start, &request);

	char rwbs[10] = {};
	bpf_core_read(&rwbs, sizeof(rwbs), &ctx->rwbs);
	struct io_key key = {.dev = request.dev, .op = rwbs[0]};
	__u64 bucket = log2_u64(latency_us);
	key.bucket = bucket > MAX_BUCKET ? MAX_BUCKET : bucket;
	increment_map(&block_io_latency_seconds, &key, 1);
	key.bucket = MAX_BUCKET + 1;
	increment_map(&block_io_latency_seconds, &key, latency_us);
	return 0;
}
