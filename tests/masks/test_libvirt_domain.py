"""The libvirt mask starts a real domain: a libvirtd started by this module, QEMU under it, and
our CPUID probe guest (tests/qemu_probe) as the domain's ``<kernel>``.

For each pair the generated ``<cpu>`` goes, as printed, into a ``<domain type='qemu'>`` (TCG:
this project's machines have a para-virtual /dev/kvm that ignores ``-cpu``) whose serial port
writes to a file; ``virsh create`` starts it, the guest prints its CPUID and powers off, and
the dump is decoded:

- with ``check='full'`` libvirt itself compares the vCPU QEMU built with the definition and
  refuses the domain on any difference ("extra features" / "missing features"). The domain
  must start, or be refused only for missing features TCG cannot emulate;
- TCG's limits are learnt from the running QEMU, not listed here: libvirt's refusal names what
  QEMU filtered out, and none of it may be something the probe sees under ``-cpu max`` (every
  feature TCG can give a guest, with the VM's vendor);
- a domain refused for TCG's limits is started again with ``check='none'`` (the only change):
  QEMU then drops what TCG lacks, as it would tell libvirt;
- the guest sees exactly what the mask promises (the required features in libvirt's names)
  minus what TCG cannot emulate, never a hidden feature, and the VM's vendor.

libvirtd runs as root in a private mount namespace (``unshare -m``): its /run, /var and
/etc/libvirt are folders of a temporary directory (so nothing of the system's libvirt is read
or written; a ``libvirt-qemu`` user is supplied there when the system has none), QEMU runs as
root without cgroups or a security driver, its log goes to a file (no virtlogd), and it
listens on its unix socket only. It is stopped after the module.

Skips when not root; when root, a missing libvirtd, QEMU or gcc skips too unless
CPUCOMPAT_REQUIRE_QEMU is set (CI), which makes it a failure. CPUCOMPAT_LIBVIRTD_ROOT=DIR runs
the libvirtd and QEMU of another Debian root instead (a chroot in the same namespace), e.g. a
Debian 13 debootstrap with libvirt-daemon-driver-qemu: libvirt 11.3 and QEMU 10.0 pass as
libvirt 9.0 and QEMU 7.2 do (QEMU 10's TCG also drops vme and tsc-adjust from named models).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpucompat.decode import Decoded, decode
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import MaskOptions, plan_for_hosts, render
from cpucompat.masks import libvirt as libvirt_format
from cpucompat.formats.reader import parse_text
from tests.qemu_probe import harness

from ..conftest import REQUIRE_QEMU_ENV, TEST_DATA
from .conftest import decoded, instlat
from .test_qemu import INTEL_MAX, dump_of

LIBVIRTD = "libvirtd"
#: A Debian root (e.g. a Debian 13 debootstrap with libvirt-daemon-driver-qemu) whose libvirtd
#: and QEMU to run instead of this machine's, in a chroot; this machine's virsh talks to it.
SYSROOT_ENV = "CPUCOMPAT_LIBVIRTD_ROOT"
#: Seconds libvirtd may take to open its socket (it probes QEMU's capabilities first).
START_SECONDS = 60
#: Seconds a domain may take from `virsh create` to powering off.
RUN_SECONDS = 120  # a TCG boot takes ~1 s alone; a loaded 2-core machine has taken over 30 s

LIBVIRTD_CONF = """\
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:{log}"
"""
QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""


def required() -> bool:
    return os.environ.get(REQUIRE_QEMU_ENV, "") not in ("", "0")


def unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"{reason}, and {REQUIRE_QEMU_ENV} is set")
    pytest.skip(reason)


@dataclass
class Libvirtd:
    uri: str
    root: Path
    process: subprocess.Popen

    def virsh(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(["virsh", "-q", "-c", self.uri, *args], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError(f"virsh {' '.join(args)}: {done.stderr.strip()}")
        return done


def _fake_account(root: Path, name: str, sysroot: str) -> list[str]:
    """/etc/passwd and /etc/group copies with a ``libvirt-qemu`` user and group (libvirtd's QEMU
    driver looks them up before reading qemu.conf), bind-mounted in the namespace only."""
    mounts = []
    for table, line in (("passwd", f"{name}:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n"),
                        ("group", f"{name}:x:64055:\n")):
        current = Path(f"{sysroot}/etc/{table}").read_text()
        if not any(entry.split(":", 1)[0] == name for entry in current.splitlines()):
            (root / table).write_text(current + line)
            mounts.append(f"mount --bind {root}/{table} {sysroot}/etc/{table}")
    return mounts


@pytest.fixture(scope="module")
def libvirtd(probe_kernel):
    """A private libvirtd (root, unix socket only) for the module; stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("starting libvirtd needs root")
    sysroot = os.environ.get(SYSROOT_ENV, "").rstrip("/")
    for tool in ("virsh", "unshare", harness.QEMU):
        if shutil.which(tool) is None:
            unavailable(f"{tool} not installed (libvirt-clients, util-linux, qemu-system-x86)")
    if not any(os.access(f"{sysroot}{d}/{LIBVIRTD}", os.X_OK) for d in ("/usr/sbin", "/usr/bin")):
        unavailable(f"{LIBVIRTD} not installed{' in ' + sysroot if sysroot else ''} "
                    "(libvirt-daemon, libvirt-daemon-driver-qemu)")
    root = Path(tempfile.mkdtemp(prefix="cpucompat-libvirtd-"))
    for sub in ("run", "var/lib", "var/cache", "var/log", "etc"):
        (root / sub).mkdir(parents=True)
    (root / "var" / "run").symlink_to("/run")
    (root / "etc" / "libvirtd.conf").write_text(LIBVIRTD_CONF.format(log=root / "libvirtd.log"))
    (root / "etc" / "qemu.conf").write_text(QEMU_CONF)
    mounts = []
    if sysroot:  # another Debian's libvirtd and QEMU; our folders at the same paths inside
        mounts += [f"mount -t proc proc {sysroot}/proc", f"mount --bind /dev {sysroot}/dev",
                   f"mount -t sysfs sysfs {sysroot}/sys"]
        for shared in (root, probe_kernel.parent):
            mounts += [f"mkdir -p {sysroot}{shared}", f"mount --bind {shared} {sysroot}{shared}"]
    mounts += [f"mount --bind {root}/run {sysroot}/run", f"mount --bind {root}/var {sysroot}/var",
               f"mount --bind {root}/etc {sysroot}/etc/libvirt",
               *_fake_account(root, "libvirt-qemu", sysroot)]
    chroot = f"chroot {sysroot} " if sysroot else ""
    script = " && ".join(mounts + [f"exec {chroot}{LIBVIRTD} -f /etc/libvirt/libvirtd.conf"])
    process = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=open(root / "libvirtd.stderr", "w"), start_new_session=True)
    socket = root / "run" / "libvirt" / "libvirt-sock"
    daemon = Libvirtd(f"qemu+unix:///system?socket={socket}", root, process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            if socket.exists() and daemon.virsh("version", check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            log = (root / "libvirtd.stderr").read_text() + (root / "libvirtd.log").read_text() \
                if (root / "libvirtd.log").exists() else (root / "libvirtd.stderr").read_text()
            unavailable(f"libvirtd did not start (exit {process.poll()}):\n{log[-3000:]}")
        yield daemon
    finally:
        for line in daemon.virsh("list", "--name", check=False).stdout.split():
            daemon.virsh("destroy", line, check=False)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


# ---- the domain --------------------------------------------------------------------------


def domain_xml(name: str, cpu_text: str, kernel: Path, serial: Path) -> str:
    """A TCG domain around a mask's <cpu> (its comment included), booting the probe."""
    cpu = ET.fromstring(cpu_text)  # the mask: a comment, then <cpu>
    domain = ET.Element("domain", type="qemu")
    ET.SubElement(domain, "name").text = name
    ET.SubElement(domain, "memory", unit="MiB").text = "64"
    ET.SubElement(domain, "vcpu").text = "1"
    os_ = ET.SubElement(domain, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="q35").text = "hvm"
    ET.SubElement(os_, "kernel").text = str(kernel)
    ET.SubElement(ET.SubElement(domain, "features"), "acpi")  # the probe powers off through ACPI
    domain.append(cpu)
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(domain, event).text = "destroy"
    devices = ET.SubElement(domain, "devices")
    ET.SubElement(devices, "emulator").text = "/usr/bin/" + harness.QEMU
    port = ET.SubElement(devices, "serial", type="file")
    ET.SubElement(port, "source", path=str(serial))
    ET.SubElement(port, "target", port="0")
    ET.SubElement(devices, "controller", type="usb", model="none")
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(domain, encoding="unicode")


@dataclass
class Started:
    """One `virsh create`: libvirt's refusal, or the guest's dump."""

    refused: str = ""
    guest: Decoded | None = None
    seconds: float = 0.0


def start(daemon: Libvirtd, name: str, cpu_text: str, kernel: Path) -> Started:
    """Create a transient domain, wait until the guest powered off, read its dump."""
    serial = daemon.root / f"{name}.serial"
    serial.unlink(missing_ok=True)
    path = daemon.root / f"{name}.xml"
    path.write_text(domain_xml(name, cpu_text, kernel, serial))
    began = time.monotonic()
    done = daemon.virsh("create", str(path), check=False)
    if done.returncode != 0:
        return Started(refused=done.stderr.strip(), seconds=time.monotonic() - began)
    deadline = began + RUN_SECONDS
    # the dump is complete at its end line; the guest's ACPI power-off then takes libvirt
    # another 1.5-2 s, so the domain is destroyed instead
    while not END_LINE.search(serial.read_text(errors="replace") if serial.exists() else ""):
        if time.monotonic() > deadline or daemon.virsh("domid", name, check=False).returncode:
            daemon.virsh("destroy", name, check=False)
            raise AssertionError(f"domain {name} gave no complete dump within {RUN_SECONDS} s:\n"
                                 f"{serial.read_text(errors='replace')[-2000:] if serial.exists() else ''}")
        time.sleep(0.02)
    daemon.virsh("destroy", name, check=False)
    _, text, _ = harness.cut_dump(serial.read_text(errors="replace"), name)
    return Started(guest=decode(parse_text(text, f"libvirt:{name}")),
                   seconds=time.monotonic() - began)


# ---- the pairs -------------------------------------------------------------------------


def _skylake_to_haswell():
    return instlat("GenuineIntel0050654_SkylakeXeon_CPUID9.txt"), instlat("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")


def _zen3_to_rome():
    return instlat("AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"), instlat("AuthenticAMD0830F10_K17_Rome_CPUID2.txt")


def _kvm_zen3_to_tcg_rome():
    return decoded(str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")), dump_of("EPYC-Rome-v2")


def _fixture(source: str, target: str):
    return lambda: (dump_of(source), dump_of(target))


#: (id, () -> (VM, target)). Our own fixtures first (they always exist), then real CPUs.
PAIRS = {
    "intel-max->Haswell-v4": _fixture(INTEL_MAX, "Haswell-v4"),
    "intel-max->Nehalem-v1": _fixture(INTEL_MAX, "Nehalem-v1"),
    "max->EPYC-Rome-v2": _fixture("max", "EPYC-Rome-v2"),
    "max->qemu64": _fixture("max", "qemu64"),
    "kvm-zen3->tcg-EPYC-Rome-v2": _kvm_zen3_to_tcg_rome,
    "SkylakeXeon->HaswellEP": _skylake_to_haswell,
    "Zen3-Milan->Zen2-Rome": _zen3_to_rome,
}


_TCG_CAN: dict[str, frozenset[str]] = {}


def tcg_can(vendor: str) -> frozenset[str]:
    """Every feature TCG gives a guest of this vendor: the probe under ``-cpu max``."""
    if vendor not in _TCG_CAN:
        cpu = "max" if vendor == "AuthenticAMD" else f"max,vendor={vendor}"
        _TCG_CAN[vendor] = decode(harness.boot(cpu)).features
    return _TCG_CAN[vendor]


def lv_names(features) -> set[str]:
    table = feature_table()
    return {libvirt_format.libvirt_name(table.by_name[n]) for n in features} - {""}


#: The probe's last line, complete.
END_LINE = re.compile(rf"{harness.END} lines=\d+ cr4=0x[0-9a-f]+\r?\n")
MISMATCH = re.compile(r"guest CPU doesn't match specification: (.*)")


@pytest.mark.parametrize("pair", list(PAIRS))
def test_mask_starts_a_real_domain_and_the_guest_sees_the_promise(libvirtd, probe_kernel, pair):
    vm, target = PAIRS[pair]()
    plan = plan_for_hosts(vm, [target])
    text = render(plan, "libvirt", MaskOptions())
    cpu = ET.fromstring(text)
    assert cpu.get("check") == "full" and cpu.get("mode") == "custom"
    promised = {f.get("name") for f in cpu.findall("feature") if f.get("policy") == "require"}
    assert "hypervisor" in promised
    table = feature_table()

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", pair)
    first = start(libvirtd, name, text, probe_kernel)
    lacking: set[str] = set()  # what this QEMU's TCG cannot give, as QEMU told libvirt
    if first.refused:
        found = MISMATCH.search(first.refused)
        assert found, first.refused
        assert "extra features" not in found.group(1), first.refused  # the mask let QEMU add something
        lacking = set(re.search(r"missing features: ([^ ]+)", found.group(1)).group(1).split(","))
        assert lacking <= promised, f"refused for features never asked for: {sorted(lacking - promised)}"
        # none of them is something TCG gives a guest (under -cpu max)
        assert not lacking & lv_names(tcg_can(vm.vendor)), first.refused
        lenient = text.replace("check=\"full\"", "check=\"none\"", 1)
        assert lenient != text
        second = start(libvirtd, name, lenient, probe_kernel)
        assert not second.refused, second.refused
        guest = second.guest
    else:
        guest = first.guest

    assert guest.vendor == vm.vendor
    sees = lv_names(n for n in guest.features if table.by_name[n].kind != "os")
    expected = promised - lacking
    assert sees == expected, (f"guest also sees: {sorted(sees - expected)}; "
                              f"guest lacks: {sorted(expected - sees)}")
    assert not guest.features & set(plan.hidden), sorted(guest.features & set(plan.hidden))
    assert guest.features - {"hypervisor"} <= vm.features | target.features | set(table.mirror_of)
