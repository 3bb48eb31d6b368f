#!/usr/bin/env bash
# Build vcsim (govmomi's vCenter simulator) for the vSphere tests, offline, from Debian's packages
# golang-go and golang-github-vmware-govmomi-dev (GOPATH mode on /usr/share/gocode, no proxy).
# The binary is cached: ${CPUCOMPAT_CACHE:-~/.cache/cpucompat}/vcsim-<hash of main.go and Go>;
# a second run only prints its path. Prints the binary's path on stdout; exit 1 when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
src=scripts/vcsim/main.go
gocode=/usr/share/gocode
command -v go >/dev/null || { echo "build-vcsim: no go (Debian package golang-go)" >&2; exit 1; }
[ -d "$gocode/src/github.com/vmware/govmomi/simulator" ] ||
    { echo "build-vcsim: no govmomi source (Debian package golang-github-vmware-govmomi-dev)" >&2; exit 1; }
cache=${CPUCOMPAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpucompat}
key=$( { cat "$src"; go version; dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev 2>/dev/null || true; } | sha256sum | cut -c1-16)
bin=$cache/vcsim-$key
if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    echo "build-vcsim: building $bin (about a minute)" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp "$src" "$tmp/main.go"
    (cd "$tmp" && CGO_ENABLED=0 GO111MODULE=off GOPATH=$gocode GOPROXY=off GOFLAGS= GOCACHE="$cache/go-build" \
        go build -o "$tmp/vcsim" main.go) >&2
    mv -f "$tmp/vcsim" "$bin"
fi
echo "$bin"
