/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * netmon's eBPF object: one translation unit so that all programs share one
 * instance of each map (stats, events). Each program lives in its own file.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "netmon_abi.h"
#include "maps.h"
#include "flow_counter.bpf.h"
#include "tcp_lifecycle.bpf.h"
#include "tcp_rtt.bpf.h"
#include "tcp_retransmit.bpf.h"
#include "skb_drop.bpf.h"

/* GPL: bpf_probe_read_kernel and the ring buffer helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
