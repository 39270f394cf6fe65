#!/usr/bin/env python3
"""Holds many TCP connects half-open, as a hostile local user would.

    halfopen.py HOST PORT COUNT   (or python3 -c "$(cat halfopen.py)" HOST PORT COUNT)

Opens COUNT non-blocking sockets (the soft RLIMIT_NOFILE raised to the hard
limit first) and starts a connect on each. With the SYNs dropped (nftables)
they all stay in SYN_SENT. Prints one JSON line {"pid", "pending", "errors"}
once every connect is started, then holds the sockets until stdin closes.
"""
import errno
import json
import resource
import socket
import sys


def main() -> None:
    host, port, count = sys.argv[-3], int(sys.argv[-2]), int(sys.argv[-1])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    pending = 0
    errors = {}
    for _ in range(count):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            errors[errno.errorcode.get(e.errno, str(e.errno))] = errors.get(errno.errorcode.get(e.errno, str(e.errno)), 0) + 1
            break
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc == errno.EINPROGRESS:
            pending += 1
            held.append(s)
        else:
            name = errno.errorcode.get(rc, str(rc))
            errors[name] = errors.get(name, 0) + 1
            s.close()
    print(json.dumps({"pid": __import__("os").getpid(), "pending": pending, "errors": errors}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
