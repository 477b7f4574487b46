// SPDX-License-Identifier: GPL-2.0
/* Helpers the example programs share: an exp2 bucket index and a counter
 * increment that creates its key on first use. Include after
 * <bpf/bpf_helpers.h>; the examples include it from their own folder. */

#ifndef NETMON_EXPORTER_MAPS_BPF_H
#define NETMON_EXPORTER_MAPS_BPF_H

/* floor(log2(v)) without loops, which older verifiers reject; 0 for 0 and 1. */
static __always_inline __u64 log2_u64(__u64 v)
{
	__u64 r = 0, shift;
	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffff) << 4; v >>= shift; r |= shift;
	shift = (v > 0xff) << 3; v >>= shift; r |= shift;
	shift = (v > 0xf) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* Adds `amount` to the __u64 value of `key` in `map`, creating the entry at
 * zero first. BPF_NOEXIST keeps a concurrent first increment on another CPU
 * from being overwritten; a full map drops the increment (the map's
 * max_entries bounds the label space). */
#define increment_map(map, key, amount)                                        \
	({                                                                     \
		__u64 __zero = 0, *__value = bpf_map_lookup_elem(map, key);    \
		if (!__value) {                                                \
			bpf_map_update_elem(map, key, &__zero, BPF_NOEXIST);   \
			__value = bpf_map_lookup_elem(map, key);               \
		}                                                              \
		if (__value)                                                   \
			__sync_fetch_and_add(__value, amount);                 \
	})

#endif
