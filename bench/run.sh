#!/usr/bin/env bash
# Benchmarks entry point (npm run bench builds first, then runs this).
# Compiles the storm programs into build/bench/ and runs dist/bench/run.js,
# which writes bench/RESULTS.md. Options are passed through, e.g.
#   bash bench/run.sh --rounds 3 --only connect --out /tmp/results.md
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench: run as root (the agent and the libbpf-tools need CAP_BPF and CAP_PERFMON)" >&2
  exit 1
fi
if [[ ! -f dist/bench/run.js ]]; then
  echo "bench: dist/bench/run.js is missing: build first with 'bash scripts/bootstrap.sh test' (npm run bench does)" >&2
  exit 1
fi
for tool in tcpstates execsnoop; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench: $tool is missing: apt-get install libbpf-tools (it is the comparison)" >&2
    exit 1
  fi
done
# The Debian tools attach through tracefs.
if [[ ! -d /sys/kernel/tracing/events ]]; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi

# The fidelity reference (bpftrace on the same tracepoint): Debian's package.
if ! command -v bpftrace >/dev/null; then
  echo "bench: installing bpftrace (the fidelity reference)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null ||
    echo "bench: could not install bpftrace: the fidelity check will say so in RESULTS.md" >&2
fi

mkdir -p build/bench
gcc -O2 -Wall -Wextra -o build/bench/connect_storm bench/connect_storm.c
gcc -O2 -Wall -Wextra -o build/bench/exec_storm bench/exec_storm.c
# The floor: count-only programs on the classic tracepoint and on tp_btf (bench/floor.bpf.c).
arch="$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')"
clang -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${arch} -Ibuild/bpf -c bench/floor.bpf.c -o build/bench/floor.bpf.o

exec scripts/node.sh dist/bench/run.js "$@"
