#!/usr/bin/env python3
"""A DNS client of its own (no C library resolver), and a hostile one, for the
dns socket-source tests.

  dnswire.py query SERVER NAME MODE     one A query, sent and received with MODE:
      sendto    unconnected socket: sendto() / recvfrom()   (musl, dig)
      sendmsg   unconnected socket: sendmsg() / recvmsg()
      connect   connected socket: send() / read()           (glibc, Go)
    prints {"pid", "tid", "id", "rcode", "answers": ["1.2.3.4", ...]}
  dnswire.py hostile SERVER             a query to SERVER:53 (marks the socket
    as a DNS client), then messages that are no valid DNS response sent to it
    from another socket of the same unprivileged process, each received, and
    one well-formed answer with another id than the query's (a spoof);
    prints {"pid", "sent": N, "spoofed": 1}
"""
import json
import os
import random
import select
import socket
import struct
import sys
import threading


def query(qid, name, qtype=1):
    labels = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack(">HH", qtype, 1)


def answers(msg):
    """A records of a response: a small independent reader (not the agent's)."""
    qd, an = struct.unpack(">HH", msg[4:8])
    at = 12

    def skip_name(at):
        while True:
            n = msg[at]
            if n & 0xC0 == 0xC0:
                return at + 2
            if n == 0:
                return at + 1
            at += 1 + n

    for _ in range(qd):
        at = skip_name(at) + 4
    out = []
    for _ in range(an):
        at = skip_name(at)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[at:at + 10])
        at += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[at:at + 4]))
        at += rdlen
    return out


def do_query(server, name, mode):
    qid = random.randrange(1, 65535)
    q = query(qid, name)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    if mode == "sendto":
        s.sendto(q, (server, 53))
        msg, _ = s.recvfrom(4096)
    elif mode == "sendmsg":
        s.sendmsg([q], [], 0, (server, 53))
        msg, _, _, _ = s.recvmsg(4096)
    elif mode == "connect":
        s.connect((server, 53))
        s.send(q)
        select.select([s], [], [], 5)  # a socket with a timeout is non-blocking underneath
        msg = os.read(s.fileno(), 4096)
    else:
        sys.exit(f"unknown mode {mode}")
    s.close()
    print(json.dumps({"pid": os.getpid(), "tid": threading.get_native_id(), "id": qid,
                      "rcode": msg[3] & 0xF, "answers": answers(msg)}), flush=True)


def hostile(server):
    rng = random.Random(53)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(5)
    client.sendto(query(1, "bait.example"), (server, 53))  # now a DNS client socket
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    header = lambda qd, an, flags=0x8180: struct.pack(">HHHHHH", 1, flags, qd, an, 0, 0)
    messages = [
        header(1, 0) + b"\xc0\x0c" + b"\0\1\0\1",                                   # the question's name points at itself
        header(1, 0) + b"\x03abc\xc0\x0c" + b"\0\1\0\1",                            # ... after a label: a loop
        header(1, 65535) + b"\x03big\0\0\1\0\1" + b"\xc0\x0c\0\1\0\1\0\0\0\1\0\4\1\2\3\4",  # 65,535 answers announced, one sent
        header(1, 0) + b"\xc0\x40" + bytes(80),                                      # a forward pointer
        header(0, 3) + bytes(30),                                                    # no question
        bytes(rng.randrange(256) for _ in range(200)),                               # garbage
        header(1, 0, flags=0x0100) + b"\x04bait\x07example\0\0\1\0\1",               # a query, not a response
        header(1, 1) + b"\x01a\0\0\1\0\1" + b"\xc0\x0c\0\1\0\1\0\0\0\1\0\5" + bytes(5),  # an A record of 5 bytes
    ]
    # Well-formed: "bait.example is 127.66.6.6", id 2 where the query's was 1.
    spoof = header(1, 1).replace(b"\0\1", b"\0\2", 1) + b"\x04bait\x07example\0\0\1\0\1" + b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4" + bytes([127, 66, 6, 6])
    for m in messages + [spoof]:
        attacker.sendto(m, client.getsockname())
        client.recvfrom(4096)
    print(json.dumps({"pid": os.getpid(), "sent": len(messages), "spoofed": 1}), flush=True)


def main(argv):
    if argv[0] == "query":
        do_query(argv[1], argv[2], argv[3])
    elif argv[0] == "hostile":
        hostile(argv[1])
    else:
        sys.exit(f"unknown command {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
