// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * DNS responses, read at the socket from the tracepoints sock_send_length
 * and sock_recv_length (Linux 6.3+; called by sock_sendmsg() and
 * sock_recvmsg() after every send and receive on every socket, in the
 * calling task), attached as tp_btf. No uprobe: nothing is written into the
 * processes, and every resolver is seen (static binaries, Go, musl, other
 * mount namespaces), whatever library it lives in.
 *
 * - Send: UDP only, to port 53, not from port 53. The socket is marked with
 *   socket storage (freed with the socket): when, to whom, by which process.
 * - Receive: one storage lookup; NULL for every socket on the host but DNS
 *   clients', and that is all the program costs them. On a marked socket the
 *   message is copied from the buffer the syscall handed to the kernel (the
 *   tracepoint runs after the copy to user space), found through the task's
 *   syscall registers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "dnssock.h"

#define AGENT_STATS_COUNT DNSSOCK_STAT__COUNT
#include "agent.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2

/*
 * Syscall numbers of the calls whose arguments are read (the kernel's
 * unistd tables). A 32-bit program on a 64-bit kernel has other numbers:
 * its calls look unsupported (or unreadable) here, never misread as DNS.
 */
#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_sendmmsg 307
#define syscall_nr(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_sendmmsg 269
#define syscall_nr(regs) BPF_CORE_READ(regs, syscallno)
#else
#error "dnssock.bpf.c: syscall numbers are only known for x86-64 and arm64"
#endif

/*
 * A send this long after the first unanswered one starts over: that query
 * was never answered (lost), and a long-lived socket (a forwarder's
 * upstream socket) must not time its later queries from it. Longer than
 * any stub resolver waits in total (glibc: timeout x attempts, at most 30 s
 * x 5).
 */
#define DNSSOCK_STALE_NS (300ULL * 1000000000ULL)

/* A query on its socket. */
struct dns_query {
	__u64 send_ns;          /* first send not yet answered */
	__u32 tgid;
	__u32 pending;          /* sends not yet answered */
	__u16 family;
	__u16 port;             /* host byte order */
	__u16 id_count;         /* ids[] used; DNSSOCK_ID_UNKNOWN: a send whose id was not read */
	__u16 id_next;          /* where the next id goes (a ring) */
	__u8 server[16];
	__u16 ids[DNSSOCK_IDS_MAX];
};
_Static_assert(sizeof(struct dns_query) == 48, "dns_query layout");
#define DNSSOCK_ID_UNKNOWN 0xffff

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dns_query);
} queries SEC(".maps");

/*
 * 1 MiB: about 1,700 responses. A lookup through glibc is two responses;
 * a resolver storm of tens of thousands of lookups per second still leaves
 * the reader tens of milliseconds.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* Keep the event layout in the object's BTF for the receiver's layout check (the enums: dnssock.h). */
EBPF_OTEL_BTF_STRUCT(dns_response_event)

/* The user-space structs read here (LP64: x86-64 and arm64). */
struct user_sockaddr_in6 {
	__u16 family;
	__u16 port;             /* network byte order */
	__u32 flowinfo;         /* sockaddr_in: the IPv4 address */
	__u8 addr[16];
};
struct user_iovec {
	__u64 base;
	__u64 len;
};
struct user_msghdr_head {
	__u64 name;             /* void *msg_name */
	__u32 namelen;
	__u32 _pad0;
	__u64 iov;              /* struct iovec * */
	__u64 iovlen;
};

static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/*
 * The destination of an unconnected socket's send, from the syscall's own
 * arguments: sendto()'s dest_addr, sendmsg()'s msg_name, sendmmsg()'s first
 * msg_name. False when there is none or it is not port 53.
 */
static __always_inline bool send_destination(struct dns_query *q)
{
	struct pt_regs *regs = syscall_regs();
	struct user_msghdr_head head;
	struct user_sockaddr_in6 sa;
	__u64 nr = syscall_nr(regs);
	__u64 name = 0;

	if (nr == NR_sendto) {
		name = PT_REGS_PARM5_CORE_SYSCALL(regs);
	} else if (nr == NR_sendmsg || nr == NR_sendmmsg) {
		/* struct mmsghdr starts with its struct msghdr */
		if (bpf_probe_read_user(&head, sizeof(head), (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs)) != 0)
			return false;
		name = head.name;
	}
	if (!name || bpf_probe_read_user(&sa, sizeof(sa), (const void *)name) != 0)
		return false;
	if (sa.port != bpf_htons(DNSSOCK_PORT))
		return false;
	q->family = sa.family;
	q->port = DNSSOCK_PORT;
	if (sa.family == AF_INET) {
		__builtin_memcpy(q->server, &sa.flowinfo, 4);
	} else if (sa.family == AF_INET6) {
		__builtin_memcpy(q->server, sa.addr, 16);
	} else {
		return false;
	}
	return true;
}

/* sendmsg()'s first buffer. */
static __always_inline __u64 msghdr_first_buffer(__u64 msghdr)
{
	struct user_msghdr_head head;
	struct user_iovec iov;

	if (bpf_probe_read_user(&head, sizeof(head), (const void *)msghdr) != 0 || head.iovlen == 0 ||
	    bpf_probe_read_user(&iov, sizeof(iov), (const void *)head.iov) != 0 || iov.len < 2)
		return 0;
	return iov.base;
}

static __always_inline void add_id(struct dns_query *q, __u64 buf)
{
	__u16 id;

	if (q->id_count == DNSSOCK_ID_UNKNOWN)
		return;
	if (!buf || bpf_probe_read_user(&id, sizeof(id), (const void *)buf) != 0) {
		q->id_count = DNSSOCK_ID_UNKNOWN;
		return;
	}
	q->ids[q->id_next & (DNSSOCK_IDS_MAX - 1)] = id;
	q->id_next = (q->id_next + 1) & (DNSSOCK_IDS_MAX - 1);
	if (q->id_count < DNSSOCK_IDS_MAX)
		q->id_count += 1;
}

/* struct mmsghdr: a struct msghdr, then unsigned int msg_len (and padding). */
#define MMSGHDR_SIZE 64

/*
 * The id (first two bytes) of what this send sent, from the syscall's own
 * buffer. sendmmsg() runs the tracepoint once per message, without saying
 * which: the ids of its first two messages (glibc's A and AAAA) are taken
 * at each, a repeat changing nothing but the ring's order.
 */
static __always_inline void add_sent_ids(struct dns_query *q)
{
	struct pt_regs *regs = syscall_regs();
	__u64 nr = syscall_nr(regs);
	__u64 arg2 = PT_REGS_PARM2_CORE_SYSCALL(regs);

	if (nr == NR_sendto || nr == NR_write) {
		add_id(q, arg2);
	} else if (nr == NR_sendmsg) {
		add_id(q, msghdr_first_buffer(arg2));
	} else if (nr == NR_sendmmsg) {
		__u64 vlen = PT_REGS_PARM3_CORE_SYSCALL(regs);

		add_id(q, msghdr_first_buffer(arg2));
		if (vlen > 1)
			add_id(q, msghdr_first_buffer(arg2 + MMSGHDR_SIZE));
	} else {
		q->id_count = DNSSOCK_ID_UNKNOWN; /* writev, io_uring, ...: nothing to match against */
	}
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(dns_send, struct sock *sk, int ret, int flags)
{
	struct dns_query q = {}, *stored;
	__u64 now;
	__u16 dport;
	__u32 tgid;

	/* Everything but UDP leaves here: TCP, Unix sockets, netlink. */
	if (sk->sk_protocol != IPPROTO_UDP || ret <= 0)
		return 0;
	dport = sk->__sk_common.skc_dport;
	if (dport != 0 && dport != bpf_htons(DNSSOCK_PORT))
		return 0; /* connected elsewhere (QUIC, syslog, ...) */
	if (sk->__sk_common.skc_num == DNSSOCK_PORT)
		return 0; /* a server answering */
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (skip_tgid(tgid))
		return 0;
	if (dport != 0) {
		/* Connected (glibc, Go): the peer is the server. */
		q.family = sk->__sk_common.skc_family;
		q.port = DNSSOCK_PORT;
		if (q.family == AF_INET)
			__builtin_memcpy(q.server, &sk->__sk_common.skc_daddr, 4);
		else if (q.family == AF_INET6)
			BPF_CORE_READ_INTO(&q.server, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		else
			return 0;
	} else if (!send_destination(&q)) {
		return 0; /* unconnected (musl), not to port 53 */
	}
	count(DNSSOCK_STAT_QUERIES);
	stored = bpf_sk_storage_get(&queries, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!stored) {
		count(DNSSOCK_STAT_STORAGE_FULL);
		return 0;
	}
	now = bpf_ktime_get_ns();
	if (stored->pending == 0 || now - stored->send_ns > DNSSOCK_STALE_NS) {
		stored->send_ns = now;
		stored->pending = 0;
		stored->id_count = 0;
		stored->id_next = 0;
	}
	stored->pending += 1;
	add_sent_ids(stored);
	stored->tgid = tgid;
	stored->family = q.family;
	stored->port = q.port;
	__builtin_memcpy(stored->server, q.server, sizeof(q.server));
	return 0;
}

enum receive_call {
	RECEIVE_OK,
	RECEIVE_UNSUPPORTED,
	RECEIVE_UNREADABLE,
};

/* Where the receive wrote (*buf) and how much room the first buffer had (*len). */
static __always_inline enum receive_call receive_buffer(__u64 *buf, __u64 *len)
{
	struct pt_regs *regs = syscall_regs();
	struct user_msghdr_head head;
	struct user_iovec iov;
	__u64 nr = syscall_nr(regs);

	if (nr == NR_recvfrom || nr == NR_read) {
		*buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
		*len = PT_REGS_PARM3_CORE_SYSCALL(regs);
		return RECEIVE_OK;
	}
	if (nr == NR_recvmsg) {
		if (bpf_probe_read_user(&head, sizeof(head), (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs)) != 0 ||
		    head.iovlen == 0 ||
		    bpf_probe_read_user(&iov, sizeof(iov), (const void *)head.iov) != 0)
			return RECEIVE_UNREADABLE;
	} else if (nr == NR_readv) {
		if (PT_REGS_PARM3_CORE_SYSCALL(regs) == 0 ||
		    bpf_probe_read_user(&iov, sizeof(iov), (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs)) != 0)
			return RECEIVE_UNREADABLE;
	} else {
		return RECEIVE_UNSUPPORTED; /* recvmmsg, io_uring, splice, ... */
	}
	*buf = iov.base;
	*len = iov.len;
	return RECEIVE_OK;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(dns_recv, struct sock *sk, int ret, int flags)
{
	struct dns_response_event *e;
	struct dns_query *q;
	__u64 pid_tgid, uid_gid, buf = 0, buf_len = 0;
	__u32 n;

	/*
	 * Every receive on the host comes here: sockets that never sent a query
	 * leave at once. The protocol first: one load, where the storage lookup
	 * is a helper call (measured with bpf_stats, per TCP receive: 83 ns with
	 * the lookup alone, 59 ns with this check first; UDP receives ~90 ns).
	 */
	if (sk->sk_protocol != IPPROTO_UDP)
		return 0;
	q = bpf_sk_storage_get(&queries, sk, 0, 0);
	if (!q)
		return 0;
	if (ret < DNSSOCK_HEADER_SIZE || (flags & MSG_PEEK))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (skip_tgid(pid_tgid >> 32))
		return 0;
	switch (receive_buffer(&buf, &buf_len)) {
	case RECEIVE_OK:
		break;
	case RECEIVE_UNSUPPORTED:
		count(DNSSOCK_STAT_UNSUPPORTED);
		return 0;
	default:
		count(DNSSOCK_STAT_UNREADABLE);
		return 0;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(DNSSOCK_STAT_RINGBUF_DROPS);
		return 0;
	}
	n = (__u32)ret;
	if (n > buf_len)
		n = buf_len; /* recvmsg/readv: only the first iovec is read */
	e->flags = n < (__u32)ret ? DNSSOCK_F_CUT : 0;
	if (n > DNSSOCK_MSG_MAX) {
		n = DNSSOCK_MSG_MAX;
		e->flags = DNSSOCK_F_CUT;
	}
	if (bpf_probe_read_user(e->msg, n, (const void *)buf) != 0) {
		bpf_ringbuf_discard(e, 0);
		count(DNSSOCK_STAT_UNREADABLE);
		return 0;
	}
	uid_gid = bpf_get_current_uid_gid();
	e->type = EVENT_DNS_RESPONSE;
	e->send_ns = q->send_ns;
	e->recv_ns = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->family = q->family;
	e->server_port = q->port;
	e->msg_size = (__u16)n;
	e->_pad0 = 0;
	e->msg_len = (__u32)ret;
	__builtin_memcpy(e->server, q->server, sizeof(e->server));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->query_ids, q->ids, sizeof(e->query_ids));
	e->query_id_count = q->id_count == DNSSOCK_ID_UNKNOWN ? 0 : q->id_count;
	e->_pad1 = 0;
	if (q->pending > 0)
		q->pending -= 1;
	bpf_ringbuf_submit(e, ringbuf_flags(&events));
	count(DNSSOCK_STAT_EVENTS);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
