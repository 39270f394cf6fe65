/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * DNS responses read at the socket: the dns probe's second source, which
 * needs no uprobe in the C library. The ring buffer layout shared by
 * bpf/dnssock.bpf.c and receiver/src/decode/dns-response.ts (checked against
 * the object's BTF by test/layout.test.ts).
 *
 * What is seen, and how to read it:
 * - A UDP socket becomes a DNS client socket when it sends to port 53
 *   (connected: its peer port; unconnected: the sendto/sendmsg/sendmmsg
 *   destination). Sockets bound to port 53 (servers) are never marked.
 * - Every later receive on a marked socket, of at least a DNS header's 12
 *   bytes, is one DNS_RESPONSE event carrying the message as received (the
 *   first DNSSOCK_MSG_MAX bytes of it). User space decodes the message: the
 *   kernel does not look inside.
 * - send_ns is the first send still unanswered on the socket (for at most
 *   5 minutes): a query retried after a timeout counts from its first try,
 *   and the two answers of glibc's parallel A and AAAA queries share their
 *   start.
 * - The ids of the socket's last DNSSOCK_IDS_MAX queries go with each
 *   response (query_ids): user space drops a response whose id is not one
 *   of them, as the resolver itself does, so another local user cannot
 *   answer in a process's name without guessing the id. query_id_count 0:
 *   the ids could not be read (a send the probe does not locate the buffer
 *   of, io_uring): nothing to match against.
 * - Not seen: names answered without a DNS query (/etc/hosts, nscd,
 *   systemd-resolved's cache over its varlink socket), DNS over TCP, TLS or
 *   HTTPS, queries that never got an answer, receives through io_uring or
 *   recvmmsg (counted: DNSSOCK_STAT_UNSUPPORTED).
 */
#ifndef EBPF_OTEL_DNSSOCK_H
#define EBPF_OTEL_DNSSOCK_H

#include "common.h"

enum dnssock_limit {
	DNSSOCK_MSG_MAX = 512,        /* bytes of a message kept: classic DNS over UDP's own limit; a power of two */
	DNSSOCK_HEADER_SIZE = 12,     /* a DNS header: shorter receives are not DNS messages */
	DNSSOCK_PORT = 53,
	DNSSOCK_IDS_MAX = 4,          /* query ids kept per socket (glibc: 2 in flight, A and AAAA); a power of two */
};
EBPF_OTEL_BTF_ENUM(dnssock_limit)

/* dns_response_event.flags (bits) */
enum dnssock_flag {
	DNSSOCK_F_CUT = 1u << 0,      /* msg[] holds the first msg_size of msg_len bytes */
};
EBPF_OTEL_BTF_ENUM(dnssock_flag)

/* One message received on a DNS client socket. Fixed size. */
struct dns_response_event {
	__u32 type;                     /* EVENT_DNS_RESPONSE */
	__u32 flags;                    /* DNSSOCK_F_* */
	__u64 send_ns;                  /* CLOCK_MONOTONIC at the first unanswered send on the socket */
	__u64 recv_ns;                  /* CLOCK_MONOTONIC at the receive */
	__u64 cgroup_id;                /* of the receiving task */
	__u32 pid;                      /* tgid of the receiving task */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u16 family;                   /* of the server address: AF_INET (2) or AF_INET6 (10) */
	__u16 server_port;              /* host byte order */
	__u16 msg_size;                 /* bytes of msg[] used (<= DNSSOCK_MSG_MAX) */
	__u16 _pad0;
	__u32 msg_len;                  /* bytes the receive returned */
	__u8 server[16];                /* the address the query went to (IPv4: first 4 bytes) */
	char comm[EBPF_OTEL_COMM_LEN];
	__u16 query_ids[DNSSOCK_IDS_MAX]; /* ids (network byte order, as on the wire) of the socket's last queries */
	__u16 query_id_count;           /* entries of query_ids used; 0: unknown */
	__u16 _pad1;
	__u8 msg[DNSSOCK_MSG_MAX];
};
_Static_assert(sizeof(struct dns_response_event) == 104 + DNSSOCK_MSG_MAX, "dns_response_event layout");

/* Indices of the per-CPU `stats` array. */
enum dnssock_stat {
	DNSSOCK_STAT_RINGBUF_DROPS = 0, /* ring buffer full: response lost */
	DNSSOCK_STAT_UNREADABLE = 1,    /* the receive buffer could not be read: response lost */
	DNSSOCK_STAT_UNSUPPORTED = 2,   /* received by a call whose buffer is not located (recvmmsg, io_uring, ...): lost */
	DNSSOCK_STAT_STORAGE_FULL = 3,  /* no socket storage for a query (out of memory): its answer is not seen */
	DNSSOCK_STAT_EVENTS = 4,        /* events submitted */
	DNSSOCK_STAT_QUERIES = 5,       /* sends to port 53 seen */
	DNSSOCK_STAT__COUNT = 6,
};
EBPF_OTEL_BTF_ENUM(dnssock_stat)

#endif
