// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor: the least a program on inet_sock_set_state can cost, one atomic
 * add per invocation, on the classic tracepoint (floor_tp) and on tp_btf
 * (floor_btf). bench/floor.ts loads one of them; the difference between the
 * two rows in bench/RESULTS.md is the hook's own cost, and what the agent
 * costs above its row is the agent's work.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline void hit(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hits, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("tracepoint/sock/inet_sock_set_state")
int floor_tp(void *ctx)
{
	hit();
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_btf, struct sock *sk, int oldstate, int newstate)
{
	hit();
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
