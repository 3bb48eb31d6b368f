#!/usr/bin/env bash
# Set up cpucompat on a fresh Debian machine: a virtual environment in .venv with the package.
#   scripts/setup.sh          what the main job needs (the demo): python3-venv, `pip install -e .`
#   scripts/setup.sh --test   also the test tools (scripts/test.sh): the Debian packages below
#                             and `pip install -e .[test]`
# As root with apt, missing Debian packages are installed; as any other user they are named (ask
# an admin for them) and the set-up goes on with what it can. One line per step on stderr;
# idempotent, and quick when everything is already there. A broken .venv is made again.
set -euo pipefail
cd "$(dirname "$0")/.."

# cpuid: reference decoder in tests; qemu-system-x86 + gcc: the CPUID probe guest that proves
# QEMU masks; libvirt-clients/libvirt-daemon: virt-xml-validate and the test:///default driver;
# python3-libvirt: libvirt's own baseline in scripts/bench_fleet.py; libvirt-daemon-driver-qemu:
# the private libvirtd of tests/masks/test_libvirt_domain.py starts the libvirt masks as domains;
# golang-go + golang-github-vmware-govmomi-dev: scripts/build-vcsim.sh builds vcsim for tests/vsphere;
# chromium: renders the vMotion map (vmotion check --html) and the fleet report (report) headless in tests;
# openssh-server: the sshd on 127.0.0.1 that tests/integrations/test_ansible.py runs the playbook over.
APT_PACKAGES=(cpuid qemu-system-x86 gcc libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu python3-libvirt libxml2-utils golang-go golang-github-vmware-govmomi-dev chromium openssh-server)

test=0
for arg in "$@"; do
    case $arg in
        --test) test=1 ;;
        *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
    esac
done

say() { echo "setup: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
have_apt() { command -v apt-get >/dev/null && command -v dpkg >/dev/null; }
missing_apt() {
    for p in "$@"; do dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || echo "$p"; done
}
apt_updated=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" = 0 ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
        apt_updated=1
    fi
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The venv works when its python runs and has pip (a failed ensurepip leaves one without pip).
venv_ok() { .venv/bin/python -c 'import pip' >/dev/null 2>&1; }
# python3 -m venv needs python3-venv (ensurepip) on Debian.
make_venv() { rm -rf .venv; "$PYTHON" -m venv .venv >"$log" 2>&1 && venv_ok; }

# 1. Debian packages: the test tools with --test; python3-venv when a venv cannot be made.
need=()
if [ "$test" = 1 ] && have_apt; then
    mapfile -t need < <(missing_apt "${APT_PACKAGES[@]}")
fi
venv_pkgs=()
if ! venv_ok && have_apt; then
    if ! command -v "$PYTHON" >/dev/null || ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        mapfile -t venv_pkgs < <(missing_apt python3 python3-venv)
        # python3-venv may be there for another python3 version: ask for it all the same.
        [ "${#venv_pkgs[@]}" -gt 0 ] || venv_pkgs=(python3-venv)
    fi
fi
todo=("${venv_pkgs[@]}" "${need[@]}")
if [ "${#todo[@]}" -gt 0 ]; then
    if is_root; then
        say "apt packages: installing ${todo[*]}"
        apt_install "${todo[@]}" || { say "error: apt-get install ${todo[*]} failed"; exit 1; }
    else
        say "not root: ask an admin to install these Debian packages: ${todo[*]}"
        [ "${#need[@]}" -eq 0 ] || say "(until then the tests that need ${need[*]} skip)"
    fi
elif [ "$test" = 1 ]; then
    say "apt packages: all there"
fi

# 2. The virtual environment.
if venv_ok; then
    say "venv: .venv ok"
else
    if [ -e .venv ]; then say "venv: .venv is broken (no working python or pip), making it again"
    else say "venv: making .venv"; fi
    if ! make_venv; then
        rm -rf .venv
        say "error: '$PYTHON -m venv' failed; on Debian it needs the package python3-venv (as root: apt-get install python3-venv). Its output:"
        tail -n 5 "$log" >&2
        exit 1
    fi
fi

# 3. The package, editable; skipped when this pyproject.toml is already installed with these extras.
spec=.
[ "$test" = 1 ] && spec=".[test]"
stamp=.venv/.cpucompat-setup
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $spec"
have=$(cat "$stamp" 2>/dev/null || true)
# A venv set up for the tests also serves the demo.
if [ "$have" = "$want" ] || { [ "$spec" = . ] && [ "$have" = "${want% *} .[test]" ]; }; then
    if .venv/bin/python -c 'import cpucompat' >/dev/null 2>&1; then
        say "pip install -e $spec: up to date"
        exit 0
    fi
fi
say "pip install -e $spec"
rm -f "$stamp"
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" >"$log" 2>&1; then
    say "error: pip install -e $spec failed:"
    tail -n 20 "$log" >&2
    exit 1
fi
echo "$want" >"$stamp"
