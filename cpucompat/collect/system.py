"""The operating system's side of a host: files under /proc and /sys, read below a root folder.

Everything is read relative to ``root`` (``/`` on a real host, a temporary folder in tests):
the online CPU list, /proc/cpuinfo flags and microcode per CPU, the kernel version and
command line, SMT state and the readable DMI/BIOS facts. Also the ``--cpus`` list syntax.
"""

from __future__ import annotations

from pathlib import Path

from ..cpulist import parse_cpu_list


#: Kernel command-line options that hide CPU features from the kernel, its /proc/cpuinfo and
#: (through KVM) from guests. A trailing "=" matches any value; otherwise the exact word.
FEATURE_OPTIONS = (
    "clearcpuid=", "noxsave", "noxsaveopt", "noxsaves", "nopku", "nosmap", "nosmep",
    "noexec=", "noexec32=", "nox2apic", "nosgx", "nofsgsbase", "nopcid", "noinvpcid",
    "nogbpages", "nosmt", "nosmt=", "tsx=", "mitigations=", "nospectre_v1", "nospectre_v2",
    "spectre_v2=", "nopti", "pti=", "spec_store_bypass_disable=", "l1tf=", "mds=",
    "tsx_async_abort=", "mmio_stale_data=", "retbleed=", "srbds=", "gather_data_sampling=",
    "spec_rstack_overflow=", "reg_file_data_sampling=", "kvm_intel.nested=", "kvm-intel.nested=",
    "kvm_amd.nested=", "kvm-amd.nested=",
)
#: Readable, non-identifying DMI files (serial numbers and UUIDs are root-only and left out).
DMI_FIELDS = (
    "bios_vendor", "bios_version", "bios_date", "bios_release", "board_vendor", "board_name",
    "board_version", "sys_vendor", "product_name", "product_family",
)


def read(root: Path, relative: str) -> str:
    """A text file below root, stripped; OSError when absent or unreadable."""
    return (root / relative).read_text(encoding="utf-8", errors="replace").strip()


def online_cpus(root: Path) -> list[int]:
    return parse_cpu_list(read(root, "sys/devices/system/cpu/online"), "online CPU list")


def proc_cpuinfo(root: Path) -> dict[int, dict]:
    """Per processor number: its flags (sorted list), microcode and apicid, from /proc/cpuinfo."""
    cpus: dict[int, dict] = {}
    current: dict | None = None
    for line in read(root, "proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            current = cpus.setdefault(int(value), {"flags": [], "microcode": ""})
        elif current is not None and key == "flags":
            current["flags"] = sorted(value.split())
        elif current is not None and key in ("microcode", "apicid"):
            current[key] = value
    return cpus


def cmdline_feature_options(root: Path) -> list[str]:
    """The words of /proc/cmdline (before a ``--``) that hide or change CPU features."""
    words = read(root, "proc/cmdline").split()
    words = words[: words.index("--")] if "--" in words else words
    return [w for w in words if any(w == o or (o.endswith("=") and w.startswith(o)) for o in FEATURE_OPTIONS)]


def firmware(root: Path) -> dict[str, str]:
    """The readable DMI facts: BIOS vendor, version, date, board, system maker and product."""
    facts = {}
    for name in DMI_FIELDS:
        try:
            facts[name] = read(root, f"sys/class/dmi/id/{name}")
        except OSError:
            continue
    return facts


def smt(root: Path) -> tuple[str | None, str | None]:
    """(control, active) from /sys/devices/system/cpu/smt, None where unreadable."""
    values = []
    for name in ("control", "active"):
        try:
            values.append(read(root, f"sys/devices/system/cpu/smt/{name}"))
        except OSError:
            values.append(None)
    return values[0], values[1]
