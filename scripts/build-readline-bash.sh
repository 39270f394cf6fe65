#!/usr/bin/env bash
# Builds GNU bash from Debian's source package, linked against the system's
# shared libreadline (libreadline.so.8) instead of the readline copy Debian's
# /usr/bin/bash carries inside itself. The bash probe has to work on both
# (receiver/src/probes/bash-target.ts finds readline in the binary or in its DT_NEEDED
# libraries); test/bash-shared-readline.test.ts uses the result.
#
# Usage: scripts/build-readline-bash.sh
#   Prints the path of the built bash on stdout (progress goes to stderr).
#   The result is cached in ${EBPF_OTEL_CACHE:-/var/cache/ebpf-otel}/bash-readline-<version>/bash;
#   a second run only checks the cached binary.
# Exit status: 0 built or cached; 2 the source package is not available here
# (no deb-src for this release, or the mirror refused it); 1 anything else.
# Needs root on a cold run (apt-get). Cold build: ~1 min on 2 cores.
set -euo pipefail

CACHE="${EBPF_OTEL_CACHE:-/var/cache/ebpf-otel}"
SRC_LIST=/etc/apt/sources.list.d/ebpf-otel-deb-src.sources

log() { echo "build-readline-bash: $*" >&2; }
fail() { log "error: $*"; exit 1; }
unavailable() { log "source package unavailable: $*"; exit 2; }

# True when $1 is a bash that runs and loads readline from a shared library.
# (Output is captured before grep: with pipefail, grep -q closing the pipe early fails the pipeline.)
usable() {
  local libs
  [ -x "$1" ] && "$1" -c 'exit 0' 2>/dev/null && libs="$(ldd "$1" 2>/dev/null)" && [[ "$libs" == *libreadline.so* ]]
}

for cached in $(ls -d "$CACHE"/bash-readline-*/bash 2>/dev/null | sort -V -r); do
  if usable "$cached"; then
    log "cached: $cached"
    echo "$cached"
    exit 0
  fi
  log "ignoring unusable cached $cached (missing libreadline.so? rebuilding)"
done

[ "$(id -u)" = 0 ] || fail "a cold build installs packages with apt-get: run as root (or reuse a cache with EBPF_OTEL_CACHE)"

# Build tools and readline's headers. dpkg-dev unpacks the source package.
missing=()
for pkg in libreadline-dev libncurses-dev dpkg-dev gcc make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || fail "apt-get install ${missing[*]} failed"
fi

# Debian's apt sources ship binaries only: add the source index of this release once.
has_source() { [ -n "$(apt-cache showsrc --only-source bash 2>/dev/null | sed -n 's/^Version: //p' | head -1)" ]; }
if ! has_source; then
  . /etc/os-release
  [ -n "${VERSION_CODENAME:-}" ] || unavailable "/etc/os-release names no release (VERSION_CODENAME) to fetch sources for"
  # The mirror this machine already uses for binary packages of the release.
  mirror="$(apt-get indextargets --format '$(REPO_URI)' 'Codename: '"$VERSION_CODENAME" 'Component: main' 2>/dev/null | grep -v -- '-security' | head -1)"
  [ -n "$mirror" ] || unavailable "no apt source for $VERSION_CODENAME main found to take source packages from"
  log "adding deb-src for $ID $VERSION_CODENAME from $mirror in $SRC_LIST"
  cat > "$SRC_LIST" <<EOF
# Added by ebpf-otel scripts/build-readline-bash.sh: bash sources for a test build.
Types: deb-src
URIs: ${mirror%/}
Suites: $VERSION_CODENAME
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -q >&2 || unavailable "apt-get update with $SRC_LIST failed"
  has_source || unavailable "the mirror has no source package bash for $VERSION_CODENAME"
fi
version="$(apt-cache showsrc --only-source bash | sed -n 's/^Version: //p' | sort -V -r | head -1)"

work="$(mktemp -d /tmp/ebpf-otel-bash-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# _apt cannot write into a root-only mktemp directory: let it.
chmod 755 "$work"
log "fetching bash $version source"
apt-get source -q --download-only "bash=$version" >&2 2>"$work/apt.log" \
  || { cat "$work/apt.log" >&2; unavailable "apt-get source bash=$version failed (mirror refused?)"; }
dpkg-source -q -x bash_*.dsc src >&2 || fail "dpkg-source could not unpack bash $version"

cd src
start=$SECONDS
log "configure --with-installed-readline --without-bash-malloc (log: $work/configure.log)"
./configure --with-installed-readline --without-bash-malloc --disable-nls > "$work/configure.log" 2>&1 \
  || { tail -30 "$work/configure.log" >&2; fail "configure failed (needs libreadline-dev >= 8.2 for bash 5.2)"; }
configured=$SECONDS
log "make -j$(nproc) bash"
make -j"$(nproc)" bash > "$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; fail "make failed"; }
built=$SECONDS
log "configure $((configured - start)) s, make $((built - configured)) s"

usable ./bash || { ldd ./bash >&2 || true; fail "the built bash does not run or does not load libreadline.so"; }
undefined="$(nm -D --undefined-only ./bash)"
grep -qw readline <<<"$undefined" || fail "the built bash defines readline itself: --with-installed-readline was ignored"

dest="$CACHE/bash-readline-$version"
staging="$CACHE/.bash-readline-$version.$$"
mkdir -p "$staging"
cp ./bash "$staging/bash"
{
  echo "GNU bash from Debian source package bash $version, built $(date -u +%FT%TZ) by scripts/build-readline-bash.sh"
  echo "configure --with-installed-readline --without-bash-malloc --disable-nls; make bash"
  echo "configure $((configured - start)) s, make $((built - configured)) s on $(nproc) cores"
  ldd ./bash
} > "$staging/BUILD-INFO"
rm -rf "$dest"
mv "$staging" "$dest"
log "built $dest/bash"
echo "$dest/bash"
