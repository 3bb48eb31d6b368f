"""Fingerprint format v1: building, hashing and atomically writing the JSON document.

A fingerprint is what the host agent leaves on each server: the raw CPUID of every logical
CPU (and what KVM can offer guests), XCR0, the kernel's view, firmware facts, BIOS findings
and notes. ``content_hash`` covers the ``raw`` part only, so two collections of the same
hardware and settings hash alike whatever the hostname or time. The schema is
``data/fingerprint.schema.json``; the reader is ``cpucompat.parsers.fingerprint``; files are
written with ``cpucompat.output.write_text``.
"""

from __future__ import annotations

import hashlib
import json

from .. import __version__
from ..dump import CpuLeaves, Dump

FORMAT = "cpucompat-fingerprint"
VERSION = 1


def leaf_rows(cpu: CpuLeaves) -> list[list[str]]:
    """Leaves as rows of six hex strings, sorted by leaf then subleaf."""
    return [
        [f"{leaf:#010x}", f"{subleaf:#04x}", *(f"{r:#010x}" for r in regs)]
        for (leaf, subleaf), regs in sorted(cpu.leaves.items())
    ]


def raw_section(cpus: list[CpuLeaves], kvm_supported: CpuLeaves | None = None) -> dict:
    return {
        "cpus": [
            {"cpu": cpu.index, "xcr0": None if cpu.xcr0 is None else f"{cpu.xcr0:#x}", "leaves": leaf_rows(cpu)}
            for cpu in cpus
        ],
        "kvm_supported": None if kvm_supported is None else {"leaves": leaf_rows(kvm_supported)},
    }


def content_hash(raw: dict) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def build(
    cpus: list[CpuLeaves],
    *,
    host: dict,
    source: dict,
    kvm_supported: CpuLeaves | None = None,
    kernel: dict | None = None,
    firmware: dict | None = None,
    findings: list[dict] | None = None,
    notes: list[str] | None = None,
) -> dict:
    """A fingerprint v1 document (a plain dict ready for json.dumps)."""
    raw = raw_section(cpus, kvm_supported)
    return {
        "format": FORMAT,
        "version": VERSION,
        "host": {"tool_version": __version__, **host},
        "source": source,
        "raw": raw,
        "kernel": kernel or {},
        "firmware": firmware or {},
        "findings": findings or [],
        "notes": notes or [],
        "content_hash": content_hash(raw),
    }


def from_dump(dump: Dump) -> dict:
    """Convert any parsed dump into a fingerprint (the source records where it came from)."""
    kernel = {k: v for k, v in dump.extra.get("kernel", {}).items() if k != "cpus"}
    if dump.kernel:
        kernel["cpus"] = [{"cpu": k.index, "flags": sorted(k.flags), "microcode": k.microcode} for k in dump.kernel]
    return build(
        dump.cpus,
        host=dict(dump.host),
        source={"method": "import", "format": dump.format, "from": dump.path},
        kvm_supported=dump.kvm_supported,
        kernel=kernel,
        firmware=dump.extra.get("firmware"),
        findings=dump.extra.get("findings"),
        notes=list(dump.notes),
    )


def dumps(document: dict) -> str:
    return json.dumps(document, indent=1) + "\n"
