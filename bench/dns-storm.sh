#!/usr/bin/env bash
# What the dns probe's libc source costs a program that resolves names in a loop:
# bench/dns_storm.c (getaddrinfo of an /etc/hosts name) unwatched, watched by
# the agent (--probes dns --dns-source libc: an /etc/hosts name sends no DNS
# query, so the default socket source has nothing to see here), and, when bpftrace is installed, watched by a
# count-only bpftrace uprobe + uretprobe on the same function (the floor any
# uprobe-based tool pays). Interleaved rounds, the order rotated per round,
# in a private mount namespace with its own /etc/hosts (the machine's files
# are untouched). Reports the median per-round ratio to the unwatched rate,
# with its range, and the agent's CPU (utime + stime from storm start until
# 1 s after it: the ring buffer is drained every 50 ms, events wait 250 ms
# to be put in order) per 1,000 lookups.
#
#   bash bench/dns-storm.sh [ROUNDS] [SECONDS]      as root, after scripts/bootstrap.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ROUNDS="${1:-5}"
SECONDS_PER_ROUND="${2:-5}"
NAME=storm.benchtest
LIBC="$(ldconfig -p | awk '$1 == "libc.so.6" && /x86-64|AArch64/ { print $NF; exit }')"

[[ $(id -u) -eq 0 ]] || { echo "dns-storm: run as root (the agent needs CAP_BPF and CAP_PERFMON)" >&2; exit 1; }
[[ -f dist/receiver/src/cli.js ]] || { echo "dns-storm: build first: bash scripts/bootstrap.sh" >&2; exit 1; }
mkdir -p build/bench
gcc -O2 -Wall -Wextra -o build/bench/dns_storm bench/dns_storm.c
variants=(none agent)
if command -v bpftrace >/dev/null; then variants+=(bpftrace); else echo "dns-storm: no bpftrace: the uprobe floor is not measured (apt-get install bpftrace)" >&2; fi

tmp="$(mktemp -d)"
watcher=""
cleanup() {
  if [[ -n "$watcher" ]]; then kill -INT "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$NAME" > "$tmp/hosts"
TICKS_PER_SECOND="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Sets n and rate.
storm() {
  local out
  out="$(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$tmp/hosts" build/bench/dns_storm "$NAME" "$SECONDS_PER_ROUND")"
  n="$(sed -E 's/.*"lookups":([0-9]+).*/\1/' <<<"$out")"
  rate="$(sed -E 's/.*"per_second":([0-9.]+).*/\1/' <<<"$out")"
}

wait_for_line() { # file pattern what
  for _ in $(seq 1 300); do grep -q "$2" "$1" && return 0; sleep 0.05; done
  echo "dns-storm: $3 did not start:" >&2; cat "$1" >&2; exit 1
}

# Sets rate, cpu (ms per 1000 lookups, agent only) and summary. Not in a
# subshell: only the shell that started the watcher can wait for it.
run_variant() {
  cpu=""; summary=""
  case "$1" in
    none) storm; return ;;
    agent)
      scripts/node.sh dist/receiver/src/cli.js --probes dns --dns-source libc --exporter jsonl >/dev/null 2>"$tmp/watcher.log" &
      watcher=$!
      wait_for_line "$tmp/watcher.log" running "the agent" ;;
    bpftrace)
      bpftrace -e "uprobe:$LIBC:getaddrinfo { @entries = count(); } uretprobe:$LIBC:getaddrinfo { @returns = count(); }" >"$tmp/watcher.log" 2>&1 &
      watcher=$!
      wait_for_line "$tmp/watcher.log" Attaching bpftrace ;;
  esac
  local before after
  before=$(cpu_ticks "$watcher")
  storm
  sleep 1
  after=$(cpu_ticks "$watcher")
  # bpftrace can miss a SIGINT that comes while it is still attaching: ask until it is gone.
  for _ in $(seq 1 100); do
    [[ "$(awk '{ print $3 }' "/proc/$watcher/stat" 2>/dev/null)" =~ ^(Z|)$ ]] && break # exited (a zombie until waited for)
    kill -INT "$watcher" 2>/dev/null || break
    sleep 0.2
  done
  wait "$watcher" || true
  watcher=""
  if [[ $1 == agent ]]; then
    cpu=$(awk -v t=$((after - before)) -v hz="$TICKS_PER_SECOND" -v n="$n" 'BEGIN { printf "%.2f", t / hz * 1000 / (n / 1000) }')
    summary="$(grep -o 'events received: [^;]*; lost in kernel: [^;]*' "$tmp/watcher.log" | tail -1)"
  else
    summary="$(grep -E '^@' "$tmp/watcher.log" | tr '\n' ' ')"
  fi
}

declare -A ratios
cpus=()
echo "getaddrinfo($NAME) from /etc/hosts, $ROUNDS rounds of ${SECONDS_PER_ROUND} s, variants: ${variants[*]}"
for round in $(seq 1 "$ROUNDS"); do
  declare -A rates=()
  k=${#variants[@]}
  for i in $(seq 0 $((k - 1))); do
    v=${variants[$(( (i + round) % k ))]}
    run_variant "$v"
    rates[$v]=$rate
    [[ $v == agent ]] && cpus+=("$cpu")
    printf 'round %d  %-8s %9.0f lookups/s  %s%s\n' "$round" "$v" "$rate" "${cpu:+agent CPU ${cpu} ms/1000 lookups  }" "$summary"
  done
  for v in "${variants[@]}"; do
    [[ $v == none ]] && continue
    ratios[$v]+="$(awk -v w="${rates[$v]}" -v b="${rates[none]}" 'BEGIN { printf "%.3f", w / b }') "
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
for v in "${variants[@]}"; do
  [[ $v == none ]] && continue
  # shellcheck disable=SC2086
  echo "$v: median rate ratio to unwatched $(median ${ratios[$v]}) (range $(range ${ratios[$v]}))"
done
echo "agent CPU per 1000 lookups: median $(median "${cpus[@]}") ms (range $(range "${cpus[@]}"))"
