#!/usr/bin/env bash
# Diagnostic (not part of npm run bench): where the TCP probe's cost in a
# connect storm comes from. Runs the connect storm unwatched, under the agent
# as built (bpf_ringbuf_submit(event, 0): the kernel wakes the reader whenever
# it has caught up, i.e. for nearly every event), and under the agent with a
# patched copy of bpf/tcpconnect.bpf.c that wakes the reader only once 256 KiB
# are waiting (BPF_RB_NO_WAKEUP otherwise). With kernel.bpf_stats_enabled=1 it
# reads the program's own run time per invocation (6 invocations per connect).
#
# The patched object is for measurement only: with it, a quiet machine's last
# events wait in the ring until the next wake-up or the agent's stop.
#
# Usage: bash bench/wakeup_experiment.sh [ROUNDS] [SECONDS]   (as root, after npm run bench or bootstrap)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
rounds=${1:-5}
seconds=${2:-4}
out=build/bench/wakeup
mkdir -p "$out/batched"
gcc -O2 -Wall -Wextra -o build/bench/connect_storm bench/connect_storm.c

src="$out/tcpconnect-batched.bpf.c"
sed 's/bpf_ringbuf_submit(event, 0);/bpf_ringbuf_submit(event, bpf_ringbuf_query(\&events, BPF_RB_AVAIL_DATA) >= 256 * 1024 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);/' \
  bpf/tcpconnect.bpf.c > "$src"
grep -q BPF_RB_NO_WAKEUP "$src" || { echo "wakeup_experiment: bpf/tcpconnect.bpf.c no longer has 'bpf_ringbuf_submit(event, 0);' to patch" >&2; exit 1; }
clang -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -Ibuild/bpf -Ibpf -c "$src" -o "$out/batched/tcpconnect.bpf.o"

prog_ids() { bpftool prog show -j | python3 -c 'import json,sys; print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))'; }
prog_cost() { # id -> "runs ns_per_run"
  bpftool prog show id "$1" -j | python3 -c 'import json,sys; p=json.load(sys.stdin); r=p.get("run_cnt",0); print(r, round(p.get("run_time_ns",0)/max(1,r)))'
}
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run() { # variant -> one result line
  local variant=$1
  if [[ $variant == none ]]; then
    echo "$variant $(build/bench/connect_storm "$seconds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')"
    return
  fi
  local dir=build/bpf
  [[ $variant == batched ]] && dir=$out/batched
  local before; before=" $(prog_ids) "
  scripts/node.sh dist/receiver/src/cli.js --exporter jsonl --probes tcp --bpf-dir "$dir" >/dev/null 2>"$out/agent.err" &
  local pid=$!
  until grep -q 'running;' "$out/agent.err"; do sleep 0.1; kill -0 $pid 2>/dev/null || { cat "$out/agent.err" >&2; exit 1; }; done
  sleep 1.5
  local id
  for id in $(prog_ids); do [[ $before == *" $id "* ]] || break; done
  local t0; t0=$(ticks $pid)
  local rate; rate=$(build/bench/connect_storm "$seconds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')
  sleep 1
  local t1; t1=$(ticks $pid)
  local cost; cost=$(prog_cost "$id")
  kill -INT $pid; wait $pid || true
  local received; received=$(grep -o 'events received: [^;]*' "$out/agent.err")
  echo "$variant $rate agent_cpu_s=$(python3 -c "print(round(($t1-$t0)/$hz,2))") bpf_runs_and_ns_per_run=${cost// /:} $received"
}

sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled=0' EXIT
variants=(none as-built batched)
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    run "${variants[(i + r) % ${#variants[@]}]}"
  done
done | tee "$out/results.txt"
python3 - "$out/results.txt" <<'EOF'
import sys, statistics, collections
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rates = collections.defaultdict(list); ns = collections.defaultdict(list); cpu = collections.defaultdict(list)
for r in rows:
    rates[r[0]].append(float(r[1]))
    for f in r[2:]:
        if f.startswith('bpf_runs_and_ns_per_run='): ns[r[0]].append(int(f.split(':')[-1]))
        if f.startswith('agent_cpu_s='): cpu[r[0]].append(float(f.split('=')[1]))
base = statistics.median(rates['none'])
for v in ('none', 'as-built', 'batched'):
    extra = '' if v == 'none' else f"  slowdown {100*(1-statistics.median(rates[v])/base):.1f} %  bpf ns/run {statistics.median(ns[v])}  agent cpu s {statistics.median(cpu[v])}"
    print(f"{v:9} median {statistics.median(rates[v]):.0f}/s (min {min(rates[v]):.0f}, max {max(rates[v]):.0f}){extra}")
EOF
