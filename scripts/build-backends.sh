#!/usr/bin/env bash
# Builds the backends the tests run, from source, with Go and the Go module proxy only
# (no prebuilt binaries are downloaded):
#   - an OpenTelemetry Collector, made by the official builder (ocb) from otel-config/builder-config.yaml
#   - Jaeger v2 (cmd/jaeger from the Go module github.com/jaegertracing/jaeger)
#   - Prometheus (cmd/prometheus from the Go module github.com/prometheus/prometheus; ~5-7 min cold)
# Binaries are cached outside the repo, keyed by version (and, for the collector, by the manifest's
# content), so a second run only checks that they exist:
#   $EBPF_OTEL_CACHE/otelcol-<version>-<manifest hash>/otelcol-ebpf-otel
#   $EBPF_OTEL_CACHE/jaeger-<module version>/jaeger
#   $EBPF_OTEL_CACHE/prometheus-<module version>/prometheus
# EBPF_OTEL_CACHE defaults to /var/cache/ebpf-otel. The Go module and build caches live there too,
# so a rebuild after a version bump is incremental.
#
# Usage: scripts/build-backends.sh [--print-paths] [--only otelcol|jaeger|prometheus]
#   (no option)    build what is missing, then print  otelcol=<path>, jaeger=<path>, prometheus=<path>
#   --print-paths  build nothing; print the paths; exit 0 when all binaries exist, 3 when one is missing
# Progress goes to stderr; each build's full output goes to $EBPF_OTEL_CACHE/logs/<name>.log.
set -euo pipefail

# Core and contrib modules must share one release. v0.148.0 is the newest release for which the
# module proxy serves every contrib module we need (loadbalancingexporter is refused at 0.149 and
# later; k8sattributesprocessor at 0.161). See the head of otel-config/builder-config.yaml.
OTELCOL_VERSION=v0.148.0
# Jaeger publishes each v2 release also as a v1 tag of the same commit (the module path has no /v2,
# so `go install ...@v2.x` cannot work): v1.76.0 is Jaeger v2.13.0.
JAEGER_MODULE_VERSION=v1.76.0
JAEGER_V2_VERSION=v2.13.0
# Prometheus v3.x is published on the module proxy as v0.3xx.y (v0.316.0 is Prometheus 3.16.0).
PROMETHEUS_MODULE_VERSION=v0.316.0

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
manifest=$repo_root/otel-config/builder-config.yaml
# go.sum lines for modules the proxy serves but its checksum database does not know (lookup: 404).
# Go trusts a go.sum line instead of asking the checksum database, so these are checked on every
# download instead of the build failing with "verifying module: ... 404 Not Found".
pinned_sums=$repo_root/otel-config/builder-go.sum
cache=${EBPF_OTEL_CACHE:-/var/cache/ebpf-otel}

print_only=0
only=all
while [ $# -gt 0 ]; do
  case $1 in
    --print-paths) print_only=1 ;;
    --only) shift; only=${1:-}; [ "$only" = otelcol ] || [ "$only" = jaeger ] || [ "$only" = prometheus ] ||
      { echo "build-backends: --only takes otelcol, jaeger or prometheus, got '$only'" >&2; exit 2; } ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-backends: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

[ -f "$manifest" ] || { echo "build-backends: missing $manifest" >&2; exit 2; }
[ -f "$pinned_sums" ] || { echo "build-backends: missing $pinned_sums" >&2; exit 2; }
manifest_hash=$(sha256sum "$manifest" | cut -c1-12)
otelcol_dir=$cache/otelcol-$OTELCOL_VERSION-$manifest_hash
otelcol_bin=$otelcol_dir/otelcol-ebpf-otel
jaeger_dir=$cache/jaeger-$JAEGER_MODULE_VERSION
jaeger_bin=$jaeger_dir/jaeger
prometheus_dir=$cache/prometheus-$PROMETHEUS_MODULE_VERSION
prometheus_bin=$prometheus_dir/prometheus

print_paths() {
  echo "otelcol=$otelcol_bin"
  echo "jaeger=$jaeger_bin"
  echo "prometheus=$prometheus_bin"
}

if [ "$print_only" = 1 ]; then
  print_paths
  [ -x "$otelcol_bin" ] && [ -x "$jaeger_bin" ] && [ -x "$prometheus_bin" ] || exit 3
  exit 0
fi

want_otelcol=0; want_jaeger=0; want_prometheus=0
{ [ "$only" = all ] || [ "$only" = otelcol ]; } && [ ! -x "$otelcol_bin" ] && want_otelcol=1
{ [ "$only" = all ] || [ "$only" = jaeger ]; } && [ ! -x "$jaeger_bin" ] && want_jaeger=1
{ [ "$only" = all ] || [ "$only" = prometheus ]; } && [ ! -x "$prometheus_bin" ] && want_prometheus=1
if [ $want_otelcol = 0 ] && [ $want_jaeger = 0 ] && [ $want_prometheus = 0 ]; then
  print_paths
  exit 0
fi

# --- Go toolchain ------------------------------------------------------------------------------
go_bin=""
for candidate in "${GO:-}" /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then go_bin=$candidate; break; fi
done
if [ -z "$go_bin" ]; then
  echo "build-backends: no Go toolchain found. Install Go >= 1.25 at /usr/local/go (or set GO=/path/to/go)." >&2
  exit 1
fi
go_version=$("$go_bin" env GOVERSION)   # e.g. go1.26.8
go_minor=$(echo "$go_version" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$go_minor" ] || [ "$go_minor" -lt 25 ]; then
  echo "build-backends: $go_bin is $go_version; the collector $OTELCOL_VERSION needs Go >= 1.25." >&2
  exit 1
fi

if ! mkdir -p "$cache/logs" 2>/dev/null || [ ! -w "$cache" ]; then
  echo "build-backends: cannot write to $cache; run as root or set EBPF_OTEL_CACHE to a writable folder." >&2
  exit 1
fi
export PATH="$(dirname "$go_bin"):$PATH"
export GOMODCACHE=$cache/gomod GOCACHE=$cache/gocache GOPATH=$cache/gopath
# local: never download another toolchain; -buildvcs=false: the module copies are not git checkouts.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

# One build at a time per cache (parallel test runs wait here instead of racing).
exec 9>"$cache/.build.lock"
if ! flock -w 3600 9; then
  echo "build-backends: waited an hour for $cache/.build.lock; is another build stuck?" >&2
  exit 1
fi
# Another process may have finished the build while we waited.
[ -x "$otelcol_bin" ] && want_otelcol=0
[ -x "$jaeger_bin" ] && want_jaeger=0
[ -x "$prometheus_bin" ] && want_prometheus=0

# run_logged NAME CMD... : runs CMD with output appended to logs/NAME.log; on failure shows its tail.
run_logged() {
  local name=$1; shift
  if ! "$@" >>"$cache/logs/$name.log" 2>&1; then
    echo "build-backends: $name build failed at: $*" >&2
    echo "---- last lines of $cache/logs/$name.log ----" >&2
    tail -n 25 "$cache/logs/$name.log" >&2
    return 1
  fi
}

build_otelcol() {
  local started=$SECONDS work=$otelcol_dir/work
  : >"$cache/logs/otelcol.log"
  echo "build-backends: building OpenTelemetry Collector $OTELCOL_VERSION (log: $cache/logs/otelcol.log)..." >&2
  local ocb=$cache/ocb-$OTELCOL_VERSION/builder
  if [ ! -x "$ocb" ]; then
    GOBIN=$cache/ocb-$OTELCOL_VERSION run_logged otelcol \
      "$go_bin" install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION" || return 1
  fi
  rm -rf "$work"; mkdir -p "$work"
  cp "$manifest" "$work/builder-config.yaml"
  # ocb's own `go mod tidy` fails on the module proxy: tidy also resolves the tests of fileexporter,
  # which import otlpencodingextension, a contrib module the proxy does not serve. So ocb only
  # generates the sources and go.mod (its exit status is ignored; the files it must leave are
  # checked), then we tidy with -e (tolerates gaps only tests of dependencies have; the binary
  # never imports them) and compile ourselves, so a real gap still fails the build.
  (cd "$work" && "$ocb" --config builder-config.yaml --skip-compilation >>"$cache/logs/otelcol.log" 2>&1) || true
  if [ ! -f "$work/build/go.mod" ] || [ ! -f "$work/build/components.go" ]; then
    echo "build-backends: ocb did not generate the collector sources; last lines of $cache/logs/otelcol.log:" >&2
    tail -n 25 "$cache/logs/otelcol.log" >&2
    return 1
  fi
  cat "$pinned_sums" >>"$work/build/go.sum"
  (cd "$work/build" && run_logged otelcol "$go_bin" mod tidy -e) || return 1
  (cd "$work/build" && run_logged otelcol "$go_bin" build -trimpath -ldflags='-s -w' -o "$otelcol_bin.tmp" .) || return 1
  "$otelcol_bin.tmp" --version >/dev/null 2>&1 || { echo "build-backends: built collector does not run" >&2; return 1; }
  mv "$otelcol_bin.tmp" "$otelcol_bin"
  echo "build-backends: collector built in $((SECONDS - started))s" >&2
}

build_jaeger() {
  local started=$SECONDS src=$jaeger_dir/src module_dir
  : >"$cache/logs/jaeger.log"
  echo "build-backends: building Jaeger $JAEGER_V2_VERSION (module $JAEGER_MODULE_VERSION; log: $cache/logs/jaeger.log)..." >&2
  mkdir -p "$jaeger_dir"
  # go mod download needs a module context to run in but does not change it.
  local scratch; scratch=$(mktemp -d)
  printf 'module scratch\n\ngo 1.25\n' >"$scratch/go.mod"
  # -json reports a failure in its "Error" field on stdout, so keep that in the log too.
  (cd "$scratch" && "$go_bin" mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION") \
    >>"$cache/logs/jaeger.log" 2>&1 || true
  rm -rf "$scratch"
  module_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' "$cache/logs/jaeger.log" | tail -n 1)
  if [ -z "$module_dir" ] || [ ! -d "$module_dir" ]; then
    echo "build-backends: could not download github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION from the module proxy:" >&2
    tail -n 25 "$cache/logs/jaeger.log" >&2
    return 1
  fi
  # Build as the main module (its go.mod replace directives only apply then) in a writable copy.
  rm -rf "$src"; cp -r "$module_dir" "$src"; chmod -R u+w "$src"
  # No jaeger-ui assets: cmd/query/app/ui embeds actual/* (only a .gitignore here), and the query
  # service then serves a placeholder page. The HTTP API (/api/v3/...) is unaffected.
  local version_pkg=github.com/jaegertracing/jaeger/internal/version
  (cd "$src" && run_logged jaeger "$go_bin" build -trimpath \
    -ldflags="-s -w -X $version_pkg.latestVersion=$JAEGER_V2_VERSION -X $version_pkg.commitSHA=$JAEGER_MODULE_VERSION" \
    -o "$jaeger_bin.tmp" ./cmd/jaeger) || return 1
  mv "$jaeger_bin.tmp" "$jaeger_bin"
  rm -rf "$src"   # 60 MB of sources; the module cache keeps the original
  echo "build-backends: jaeger built in $((SECONDS - started))s" >&2
}

build_prometheus() {
  local started=$SECONDS
  : >"$cache/logs/prometheus.log"
  echo "build-backends: building Prometheus (module $PROMETHEUS_MODULE_VERSION; log: $cache/logs/prometheus.log)..." >&2
  mkdir -p "$prometheus_dir"
  # go install module@version builds it as the main module; no web UI assets (the API is enough).
  GOBIN=$prometheus_dir/tmp run_logged prometheus \
    "$go_bin" install -trimpath -ldflags='-s -w' "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" || return 1
  "$prometheus_dir/tmp/prometheus" --version >/dev/null 2>&1 || { echo "build-backends: built prometheus does not run" >&2; return 1; }
  mv "$prometheus_dir/tmp/prometheus" "$prometheus_bin"
  rmdir "$prometheus_dir/tmp" 2>/dev/null || true
  echo "build-backends: prometheus built in $((SECONDS - started))s" >&2
}

failed=0
if [ $want_otelcol = 1 ]; then build_otelcol || failed=1; fi
if [ $want_jaeger = 1 ]; then build_jaeger || failed=1; fi
if [ $want_prometheus = 1 ]; then build_prometheus || failed=1; fi
if [ $failed = 1 ]; then
  echo "build-backends: FAILED. Needs Go >= 1.25 and the Go module proxy ($($go_bin env GOPROXY 2>/dev/null)); see the logs above." >&2
  exit 1
fi
print_paths
