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

/*
 * Every number the receiver reads is a C enum, never a #define: event types,
 * outcomes, flags, stat indices. EBPF_OTEL_BTF_ENUM puts the enum into each
 * object's BTF (clang only emits types something uses; EBPF_OTEL_BTF_STRUCT
 * does the same for a struct), and
 * test/layout.test.ts checks every enum of every header in bpf/ against the
 * TypeScript mirrors: a value moved on one side only fails the tests.
 * It costs one unused pointer in .bss, never read.
 */
#ifdef __bpf__
#define EBPF_OTEL_BTF_ENUM(name) const enum name *ebpf_otel_btf_enum_##name __attribute__((unused));
#define EBPF_OTEL_BTF_STRUCT(name) const struct name *ebpf_otel_btf_struct_##name __attribute__((unused));
#else
#define EBPF_OTEL_BTF_ENUM(name)
#define EBPF_OTEL_BTF_STRUCT(name)
#endif

enum event_type {
	EVENT_TCP_CONNECT = 1,
	EVENT_PROC_EXEC = 2,
	EVENT_PROC_EXIT = 3,
	EVENT_PROC_FORK = 4,
	EVENT_BASH_READLINE = 5,
	EVENT_BASH_PROMPT = 6,
	EVENT_DNS_LOOKUP = 7,
	EVENT_DNS_RESPONSE = 8,
};
EBPF_OTEL_BTF_ENUM(event_type)

#endif
