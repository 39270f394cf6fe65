#!/usr/bin/env python3
"""Real TCP activity for the kernel tests, from a process whose pid we know.

  tcpctl.py connect HOST PORT [--count N] [--parallel] [--syncnt N] [--timeout S] [--abandon] [--blocking]
      prints one JSON object: {"pid": ..., "results": [{"sport", "ok", "errno", "seconds"}]}
  tcpctl.py listen HOST PORT
      accepts and closes connections until killed; prints "ready" once listening
"""
import errno
import json
import os
import select
import socket
import sys
import threading
import time


def connect_one(host, port, syncnt, timeout, abandon, blocking=False):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    if syncnt:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, syncnt)
    start = time.monotonic()
    result = {"sport": 0, "ok": False, "errno": 0, "seconds": 0.0}
    try:
        if abandon:
            # Non-blocking connect, then close while still in SYN_SENT.
            s.setblocking(False)
            err = s.connect_ex((host, port))
            result["errno"] = err
            result["sport"] = s.getsockname()[1]
            time.sleep(0.05)
        else:
            # Python's timeout mode is a non-blocking connect + poll + SO_ERROR;
            # --blocking makes one plain blocking connect(2).
            if not blocking:
                s.settimeout(timeout)
            s.connect((host, port))
            result["ok"] = True
            result["sport"] = s.getsockname()[1]
    except OSError as e:
        result["errno"] = e.errno or 0
        try:
            result["sport"] = s.getsockname()[1]
        except OSError:
            pass
    result["seconds"] = time.monotonic() - start
    s.close()
    return result


def main():
    cmd = sys.argv[1]
    if cmd == "listen":
        host, port = sys.argv[2], int(sys.argv[3])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
        srv.listen(4096)
        print("ready", flush=True)
        while True:
            c, _ = srv.accept()
            c.close()
    args = sys.argv[2:]
    host, port = args[0], int(args[1])
    opts = {"--count": 1, "--syncnt": 0, "--timeout": 10.0}
    parallel = "--parallel" in args
    abandon = "--abandon" in args
    blocking = "--blocking" in args
    for i, a in enumerate(args):
        if a in opts:
            opts[a] = type(opts[a])(args[i + 1])
    results = [None] * opts["--count"]

    def work(i):
        results[i] = connect_one(host, port, opts["--syncnt"], opts["--timeout"], abandon, blocking)

    if parallel:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(opts["--count"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i in range(opts["--count"]):
            work(i)
    print(json.dumps({"pid": os.getpid(), "results": results}), flush=True)


if __name__ == "__main__":
    main()
