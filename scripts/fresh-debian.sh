#!/usr/bin/env bash
# Run the README's two commands in a fresh, minimal Debian root (root only):
#   scripts/fresh-debian.sh SUITE        SUITE: bookworm (Debian 12) or trixie (Debian 13)
# Builds the root with debootstrap (cached as a tarball in $CPUCOMPAT_FRESH_CACHE, default
# /var/cache/cpucompat, so a rerun only unpacks it), reaches Debian's packages and PyPI the way
# this machine does (its apt mirror, apt and pip configuration, CA certificates, proxy and PIP_*
# variables), copies the checkout in (git's files, with ../shared beside it), then in a chroot:
#   1. scripts/setup.sh as a user, before anything is installed: must name python3-venv;
#   2. scripts/test.sh as root;  3. scripts/demo.sh as root;  4. scripts/demo.sh as a user.
# Prints PASS or FAIL per step and a summary; exits 1 when a step failed. Each step's output is
# kept in $CPUCOMPAT_FRESH_LOGS (default /var/tmp/cpucompat-fresh-SUITE-logs);
# CPUCOMPAT_FRESH_KEEP=1 keeps the root itself (unmounted) for a look.
# CPUCOMPAT_* variables (CPUCOMPAT_REQUIRE_QEMU, ...) pass through to the steps.
set -euo pipefail

suite=${1:-}
case $suite in
    bookworm|trixie) ;;
    *) echo "usage: scripts/fresh-debian.sh bookworm|trixie" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "fresh-debian: needs root (debootstrap, chroot, mount)" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/.." && pwd)/shared
cache=${CPUCOMPAT_FRESH_CACHE:-/var/cache/cpucompat}
logs=${CPUCOMPAT_FRESH_LOGS:-/var/tmp/cpucompat-fresh-$suite-logs}
step_timeout=${CPUCOMPAT_FRESH_TIMEOUT:-1800}
arch=$(dpkg --print-architecture)
tarball=$cache/debian-$suite-$arch-minbase.tar
say() { echo "fresh-debian: $*" >&2; }
t0=$SECONDS

# --- how this machine reaches Debian: the first Debian mirror in its apt sources -------------
apt_uris() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n'
    done
}
mirror=$(apt_uris | grep -E '/debian/?$' | head -n1 || true)
security=$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-${mirror%/debian*}/debian-security}
# apt's proxy, when it has one, for debootstrap's own downloads (wget).
for scheme in http https; do
    proxy=$(apt-config shell p "Acquire::$scheme::Proxy" | sed -n "s/^p='\(.*\)'$/\1/p")
    if [ -n "$proxy" ] && [ "$proxy" != DIRECT ]; then export "${scheme}_proxy=$proxy"; fi
done

# --- the debootstrap root, cached -------------------------------------------------------------
mkdir -p "$cache" "$logs"
work=$(mktemp -d "/var/tmp/cpucompat-fresh-$suite.XXXXXX")
root=$work/root
mkdir -p "$root"

mounted=()
cleanup() {
    set +e
    # End what the steps left running inside the root (a libvirtd, a QEMU), then unmount.
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}"
    done
    if grep -q " $work/" /proc/self/mounts; then
        say "warning: something is still mounted under $work; left it there"
    elif [ "${CPUCOMPAT_FRESH_KEEP:-0}" = 1 ]; then
        say "kept the root for a look: $root (remove $work when done)"
    else
        rm -rf --one-file-system "$work" || say "warning: could not remove all of $work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -s "$tarball" ]; then
    tb=$SECONDS
    tar -xpf "$tarball" -C "$root"
    say "debian $suite: unpacked the cached root $tarball in $((SECONDS - tb)) s"
else
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    keyring=()
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    say "debian $suite: debootstrap --variant=minbase from $mirror (a few minutes; cached afterwards)"
    tb=$SECONDS
    if ! debootstrap --variant=minbase --include=ca-certificates "${keyring[@]}" \
            "$suite" "$root" "$mirror" >"$logs/debootstrap.log" 2>&1; then
        say "error: debootstrap failed; the end of $logs/debootstrap.log:"
        tail -n 20 "$logs/debootstrap.log" >&2
        exit 1
    fi
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*_*
    tar -cpf "$tarball.tmp" -C "$root" . && mv "$tarball.tmp" "$tarball"
    say "debian $suite: root made in $((SECONDS - tb)) s, cached in $tarball"
fi

# --- this machine's ways to reach Debian and PyPI, copied in ----------------------------------
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$root/etc/apt/sources.list"
# Local apt settings (no package owns them: a proxy, Check-Valid-Until, ...) and credentials.
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/* /etc/apt/auth.conf /etc/apt/auth.conf.d/*; do
    [ -f "$f" ] || continue
    dpkg -S "$f" >/dev/null 2>&1 && continue
    mkdir -p "$root$(dirname "$f")"
    cp "$f" "$root$f"
done
# Extra CA certificates (a TLS-inspecting proxy's) and pip's configuration.
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
for f in /etc/pip.conf /etc/xdg/pip; do
    [ -e "$f" ] && mkdir -p "$root$(dirname "$f")" && cp -r "$f" "$root$f"
done
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
cp /etc/hosts "$root/etc/hosts" 2>/dev/null || true

# The environment of every step: a plain login environment plus this machine's proxy and PIP_*
# variables (those naming a local path the root lacks are left out) and CPUCOMPAT_*.
step_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb "CI=${CI:-}")
while IFS='=' read -r name value; do
    case $name in
        PIP_*)
            local_path=${value#file://}
            if [[ $local_path == /* ]] && [ ! -e "$root${local_path%% *}" ]; then continue; fi ;;
        http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|CPUCOMPAT_*) ;;
        *) continue ;;
    esac
    step_env+=("$name=$value")
done < <(env)

# --- mounts ------------------------------------------------------------------------------------
mnt() { # mnt TARGET MOUNT-ARGS...
    mkdir -p "$1"
    mount "${@:2}" "$1"
    mounted+=("$1")
}
# The root is a mount point of its own, as / is on a machine (unshare --propagation and
# libvirtd's private mount namespace need that), and private, so nothing mounted in it leaks out.
mnt "$root" --bind "$root"
mount --make-rprivate "$root"
mnt "$root/proc" -t proc proc
mnt "$root/sys" -t sysfs sysfs
mnt "$root/dev" --bind /dev
mnt "$root/dev/pts" --bind /dev/pts
mnt "$root/dev/shm" -t tmpfs -o mode=1777 shm
mnt "$root/run" -t tmpfs -o mode=755 run
mnt "$root/tmp" -t tmpfs -o mode=1777 tmp
# Debian's .deb files are kept between runs: every run installs everything afresh, but a rerun
# downloads no package it downloaded before.
mkdir -p "$cache/$suite-apt-archives/partial"
mnt "$root/var/cache/apt/archives" --bind "$cache/$suite-apt-archives"

in_root() { chroot "$root" /usr/bin/env -i "${step_env[@]}" "$@"; }
in_root update-ca-certificates >/dev/null 2>&1 || say "warning: update-ca-certificates failed in the root"

# --- the checkout: git's files as they are in the working tree, ../shared beside it -----------
copy_checkout() { # copy_checkout DIR (inside the root)
    mkdir -p "$root$1/cpucompat"
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$root$1/cpucompat"
    if [ -d "$shared" ]; then cp -r "$shared" "$root$1/shared"; fi
}
copy_checkout /work
user=cpucompat
in_root useradd --create-home --shell /bin/bash "$user"
copy_checkout "/home/$user"
in_root chown -R "$user:$user" "/home/$user"

# --- the steps ---------------------------------------------------------------------------------
results=()
failed=0
step() { # step NAME CHECK-CMD USER DIR COMMAND...
    local name=$1 check=$2 who=$3 dir=$4; shift 4
    local log="$logs/$name.log" ts=$SECONDS rc=0
    say "[$name] ${*} as $who (log: $log)"
    if [ "$who" = root ]; then
        timeout -k 10 "$step_timeout" chroot "$root" /usr/bin/env -i "${step_env[@]}" HOME=/root \
            bash -c 'cd "$1" && shift && exec "$@"' - "$dir" "$@" </dev/null >"$log" 2>&1 || rc=$?
    else
        local ids
        ids=$(in_root id -u "$who"):$(in_root id -g "$who")
        timeout -k 10 "$step_timeout" chroot --userspec="$ids" --groups="${ids#*:}" "$root" /usr/bin/env -i "${step_env[@]}" \
            HOME="/home/$who" USER="$who" LOGNAME="$who" \
            bash -c 'cd "$1" && shift && exec "$@"' - "$dir" "$@" </dev/null >"$log" 2>&1 || rc=$?
    fi
    local verdict=PASS
    if ! $check "$rc" "$log"; then verdict=FAIL; failed=1; fi
    results+=("$(printf '%-4s %-22s exit %3s %5s s' "$verdict" "$name" "$rc" "$((SECONDS - ts))")")
    say "[$name] $verdict (exit $rc, $((SECONDS - ts)) s)"
    if [ "$verdict" = FAIL ]; then tail -n 30 "$log" | sed "s/^/  $name| /" >&2; fi
}
exit0() { [ "$1" = 0 ]; }
# A user without python3-venv is told which package to ask for, on the first line, and it stops.
names_venv() {
    [ "$1" != 0 ] && head -n1 "$2" | grep -q '^setup: ' && grep -q 'python3-venv' "$2"
}
home=/home/$user/cpucompat
if ! in_root sh -c 'python3 -c "import ensurepip" 2>/dev/null'; then
    step user-setup-no-venv names_venv "$user" "$home" scripts/setup.sh
fi
step root-test.sh exit0 root /work/cpucompat scripts/test.sh
step root-demo.sh exit0 root /work/cpucompat scripts/demo.sh
step user-demo.sh exit0 "$user" "$home" scripts/demo.sh

echo "== fresh Debian $suite ($(cat "$root/etc/debian_version")): $((SECONDS - t0)) s" >&2
printf '%s\n' "${results[@]}" >&2
pytest_line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$logs/root-test.sh.log" | tail -n1 || true)
[ -z "$pytest_line" ] || echo "root-test.sh: $pytest_line" >&2
if [ "$failed" = 0 ]; then
    echo "fresh-debian $suite: PASS" >&2
else
    echo "fresh-debian $suite: FAIL (logs in $logs)" >&2
    exit 1
fi
