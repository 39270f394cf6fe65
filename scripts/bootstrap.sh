#!/usr/bin/env bash
# One entry point for every set-up step, so `npm start` and `npm test` work on a
# fresh Debian 12 machine: system packages, npm dependencies (which bring
# Node 22), BPF objects, the native addon and the TypeScript build. Each step is
# skipped when its output is already up to date, so a second run is quick.
#
#   scripts/bootstrap.sh run    what the agent needs
#   scripts/bootstrap.sh test   plus what the tests need (tmux, nftables, libbpf-tools, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"

say() { printf 'ebpf-otel setup: %s\n' "$*" >&2; }
die() { printf 'ebpf-otel setup: error: %s\n' "$*" >&2; exit 1; }

RUN_PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ pkg-config python3)
TEST_PACKAGES=(nftables iproute2 tmux libbpf-tools procps util-linux openssl dnsmasq-base curl musl musl-tools)

missing_packages() {
  local p
  for p in "$@"; do
    [[ "$p" == *- ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if ! command -v apt-get >/dev/null; then
    die "missing system packages: ${missing[*]} (no apt-get here: install their equivalents by hand)"
  fi
  if [[ $(id -u) -ne 0 ]]; then
    die "missing system packages: ${missing[*]}. Run as root, or: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing system packages: ${missing[*]}"
  local stamp=/var/lib/apt/periodic/ebpf-otel-update-stamp
  if [[ ! -e $stamp ]] || [[ -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
    apt-get update -qq || die "apt-get update failed"
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

install_packages "${RUN_PACKAGES[@]}"
[[ "$MODE" == test ]] && install_packages "${TEST_PACKAGES[@]}"

# npm dependencies: reinstalled when package-lock.json changes.
if [[ ! -e node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.bootstrap-stamp ]]; then
  command -v npm >/dev/null || die "npm is missing: install Node.js (any version >= 20 runs npm; the project brings its own Node 22)"
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
  touch node_modules/.bootstrap-stamp
fi

NODE="$(scripts/node.sh --path)"

make -s -C bpf || die "building the BPF programs failed (see above)"
if [[ "$MODE" == test ]]; then
  make -s -C bpf fixtures || die "building the test BPF fixtures failed (see above)"
fi

if [[ ! -e addon/build/Release/ebpf_otel.node ]] || [[ -n $(find addon/src addon/binding.gyp -newer addon/build/Release/ebpf_otel.node 2>/dev/null | head -1) ]]; then
  NODEDIR="$("$NODE" scripts/nodedir.js)" || die "no Node.js headers found for node-gyp"
  say "building the native addon (headers: $NODEDIR)"
  PATH="$(dirname "$NODE"):$PATH" node_modules/.bin/node-gyp rebuild --directory addon --nodedir="$NODEDIR" --loglevel=warn >&2 \
    || die "building the native addon failed (see above)"
fi

# The backends the end-to-end tests run (Collector, Jaeger, Prometheus; kube-apiserver and etcd for
# the Kubernetes tests), built from Go modules and cached outside the repo by version. Built here,
# before the test runner starts, so a cold build (tens of minutes on 2 CPUs) counts against no test's
# timeout; a failed build is reported and the tests that need it fail naming it.
if [[ "$MODE" == test ]]; then
  for backend in otelcol jaeger prometheus etcd kube-apiserver; do
    bash scripts/build-backends.sh --print-paths --only "$backend" >/dev/null 2>&1 && continue
    say "building $backend for the end-to-end tests (once: cached in ${EBPF_OTEL_CACHE:-/var/cache/ebpf-otel})"
    bash scripts/build-backends.sh --only "$backend" >/dev/null \
      || say "warning: building $backend failed (log in ${EBPF_OTEL_CACHE:-/var/cache/ebpf-otel}/logs/): the tests that need it will fail"
  done
fi

if [[ ! -e dist/.stamp ]] || [[ -n $(find receiver addon/lib test bench tsconfig.json -name '*.ts' -newer dist/.stamp -o -name tsconfig.json -newer dist/.stamp 2>/dev/null | head -1) ]]; then
  say "compiling TypeScript"
  "$NODE" node_modules/typescript/bin/tsc -p tsconfig.json || die "TypeScript compilation failed"
  touch dist/.stamp
fi
