#!/usr/bin/env bash
# Runs the Node.js the project uses: the Node 22 that npm installed into
# node_modules (package `node`), else a system node >= 22.15.
# `scripts/node.sh --path` prints which one.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pick() {
  if [[ -x "$here/node_modules/node/bin/node" ]]; then echo "$here/node_modules/node/bin/node"; return; fi
  local sys; sys="$(command -v node || true)"
  if [[ -n "$sys" ]] && "$sys" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=15)?0:1)'; then
    echo "$sys"; return
  fi
  echo "ebpf-otel: Node.js >= 22.15 is needed: run 'npm ci' in $here (it installs Node 22) or install Node 22" >&2
  exit 1
}
if [[ "${1:-}" == --path ]]; then pick; exit; fi
exec "$(pick)" "$@"
