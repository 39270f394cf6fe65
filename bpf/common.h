/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared by every BPF program and by the receiver's decoders (through the
 * object file's BTF, see test/layout.test.ts). Every event struct starts with
 * a __u32 `type` from enum event_type so one decoder table can dispatch any
 * ring buffer record. Fixed-width fields only, padding written out, sizes
 * asserted: the TypeScript side reads these offsets.
 */
#ifndef EBPF_OTEL_COMMON_H
#define EBPF_OTEL_COMMON_H

#define EBPF_OTEL_COMM_LEN 16

enum event_type {
	EVENT_TCP_CONNECT = 1,
	EVENT_PROC_EXEC = 2,
	EVENT_PROC_EXIT = 3,
	EVENT_PROC_FORK = 4,
	EVENT_BASH_READLINE = 5,
	EVENT_BASH_PROMPT = 6,
	EVENT_DNS_LOOKUP = 7,
};

#endif
