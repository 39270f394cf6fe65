#!/usr/bin/env python3
"""Name lookups and connects with known threads, for the dns tests.

  dnsctl.py lookup NAME PORT [--family 4|6|0] [--no-connect]
  dnsctl.py threads PORT NAME...        one thread per name, released together
  dnsctl.py sequence PORT NAME...       resolve and connect each name in turn
  dnsctl.py serve PORT                  prints {"ready": pid}, then for each name read
                                        from stdin: resolve, connect, print the result

Prints one JSON object: {"pid", "results": [{"name", "tid", "t0", "t1", "ok",
"error", "addrs", "sport"}]}; t0/t1 are CLOCK_MONOTONIC ns around getaddrinfo().
"""
import json
import os
import socket
import sys
import threading
import time


def lookup(name, port, family=0, do_connect=True):
    r = {"name": name, "tid": threading.get_native_id(), "ok": False, "error": None, "addrs": [], "sport": None}
    r["t0"] = time.monotonic_ns()
    try:
        infos = socket.getaddrinfo(name, port, family, socket.SOCK_STREAM)
    except socket.gaierror as e:
        r["t1"] = time.monotonic_ns()
        r["error"] = e.errno
        return r
    r["t1"] = time.monotonic_ns()
    r["ok"] = True
    r["addrs"] = [i[4][0] for i in infos]
    if do_connect:
        fam, kind, proto, _, addr = infos[0]
        s = socket.socket(fam, kind, proto)
        s.settimeout(10)
        try:
            s.connect(addr)
            r["sport"] = s.getsockname()[1]
        except OSError as e:
            r["connect_error"] = e.errno
        finally:
            s.close()
    return r


def main(argv):
    cmd = argv[0]
    out = {"pid": os.getpid(), "results": []}
    if cmd == "lookup":
        family = {"0": 0, "4": socket.AF_INET, "6": socket.AF_INET6}[argv[argv.index("--family") + 1] if "--family" in argv else "0"]
        out["results"].append(lookup(argv[1], int(argv[2]), family, "--no-connect" not in argv))
    elif cmd == "threads":
        port, names = int(argv[1]), argv[2:]
        barrier = threading.Barrier(len(names))
        results = [None] * len(names)

        def run(i, name):
            barrier.wait()
            results[i] = lookup(name, port, socket.AF_INET)

        threads = [threading.Thread(target=run, args=(i, n)) for i, n in enumerate(names)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["results"] = results
    elif cmd == "sequence":
        port = int(argv[1])
        out["results"] = [lookup(n, port, socket.AF_INET) for n in argv[2:]]
    elif cmd == "serve":
        port = int(argv[1])
        print(json.dumps({"ready": os.getpid()}), flush=True)
        for line in sys.stdin:
            print(json.dumps({"pid": os.getpid(), "results": [lookup(line.strip(), port, socket.AF_INET)]}), flush=True)
        return
    else:
        sys.exit(f"unknown command {cmd}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
