"""vSphere host and VM records (written by ``cpucompat vsphere collect``) read as Dumps.

A host record (``"format": "cpucompat-vsphere-host"``) decodes from its ``hardware.cpuFeature``
leaves with every feature its ``config.featureCapability`` names set or cleared (names through
features.csv ``vmware_name``, any case); a VM record (``"format": "cpucompat-vsphere-vm"``) decodes
to a CPU that has exactly what the running VM requires (``runtime.featureRequirement``, plus the
features every x86-64 CPU has), so ``compare VM.json HOST...`` judges the VM's real needs, not its
current host's CPU. The records themselves are built in ``vsphere/records.py``.
"""

from __future__ import annotations

import json
import re

from ..dump import CpuLeaves, Dump
from ..errors import InputError

HOST_FORMAT = "cpucompat-vsphere-host"
VM_FORMAT = "cpucompat-vsphere-vm"
VERSION = 1
HOST_DUMP_FORMAT = "vsphere-host"
VM_DUMP_FORMAT = "vsphere-vm"

_SNIFF = re.compile(r'^\s*\{\s*"format"\s*:\s*"cpucompat-vsphere-(host|vm)"')




def sniff(text: str) -> bool:
    return bool(_SNIFF.match(text[:4096].lstrip("\ufeff")))


def parse(text: str, path: str) -> Dump:
    """A host or VM record as a Dump (format ``vsphere-host`` / ``vsphere-vm``)."""
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError) as error:
        raise InputError(path, f"invalid JSON: {error}") from None
    return record_dump(doc, path)


def record_dump(doc: dict, path: str) -> Dump:
    if not isinstance(doc, dict) or doc.get("format") not in (HOST_FORMAT, VM_FORMAT):
        raise InputError(path, f"expected a vSphere record ({HOST_FORMAT} or {VM_FORMAT})")
    if doc.get("version") != VERSION:
        raise InputError(path, f"vSphere record version {doc.get('version')!r} is not supported (expected {VERSION})")
    try:
        return host_dump(doc, path) if doc["format"] == HOST_FORMAT else vm_dump(doc, path)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(path, f"vSphere record of the wrong shape: {error}") from None


def require_host(dump: Dump) -> Dump:
    """``dump`` where it must stand for a host's CPU: a VM record (what a VM requires) is refused."""
    if dump.format == VM_DUMP_FORMAT:
        raise InputError(dump.path, "a vSphere VM record is what a VM requires, not a host's CPU: give it as "
                         "compare's SOURCE or mask's VM_INPUT, and host records (vsphere collect's hosts/) here")
    return dump


def _register(text: str) -> int:
    """A HostCpuIdInfo register string (bit 31 first, ``:`` every four bits) as an int: only
    ``1`` is a set bit (masks use other characters for "keep", "host's value" ...)."""
    bits = str(text or "").replace(":", "")
    if len(bits) != 32:
        raise ValueError(f"a CPUID register must have 32 bit characters, got {text!r}")
    return sum(1 << (31 - i) for i, c in enumerate(bits) if c == "1")


def _set_feature(cpu: CpuLeaves, name: str, on: bool) -> None:
    from ..knowledge.features import feature_table

    feature = feature_table().by_name[name]
    key = (feature.leaf, feature.subleaf)
    regs = list(cpu.get(*key))
    index = ("eax", "ebx", "ecx", "edx").index(feature.reg)
    regs[index] = regs[index] | (1 << feature.bit) if on else regs[index] & ~(1 << feature.bit)
    cpu.leaves[key] = tuple(regs)


def _apply_keys(cpu: CpuLeaves, keys: dict[str, bool], vendor: str | None) -> tuple[list[str], list[str]]:
    """Set/clear the features and XSAVE components named by VMware keys; (applied, unknown)."""
    from ..knowledge.vmware import vmware_key

    applied, unknown = [], []
    for key, on in keys.items():
        kind, what = vmware_key(key, vendor)
        if kind == "feature":
            _set_feature(cpu, what, on)
            applied.append(what)
        elif kind == "xsave" and on:
            eax, ebx, ecx, edx = cpu.get(0xD, 0)
            cpu.leaves[(0xD, 0)] = (eax | 1 << int(what) | 1, ebx, ecx, edx)
        elif kind == "unknown":
            unknown.append(key)
    return applied, unknown


def _on(value: str) -> bool:
    """A featureCapability / featureRequirement value says present: ``1``, ``Bool:Min:1``, ``Val:0x2d``."""
    last = str(value).rsplit(":", 1)[-1].strip()
    try:
        return int(last, 0) != 0
    except ValueError:
        return last.lower() == "true"


def host_dump(doc: dict, path: str) -> Dump:
    cpu = CpuLeaves(index=0, label="vSphere hardware.cpuFeature")
    for leaf in doc.get("cpu_feature") or []:
        cpu.leaves[(int(leaf["level"]) & 0xFFFFFFFF, 0)] = tuple(_register(leaf[r]) for r in ("eax", "ebx", "ecx", "edx"))
    if not cpu.leaves:
        raise InputError(path, "vSphere host record without hardware.cpuFeature leaves")
    from ..cpuid_fields import vendor_string

    capability = {k: _on(v) for k, v in (doc.get("feature_capability") or {}).items() if k.lower().startswith("cpuid.")}
    applied, unknown = _apply_keys(cpu, capability, vendor_string(cpu))
    _cover(cpu)
    notes = [f"vSphere host: decoded from {len(doc['cpu_feature'])} hardware.cpuFeature leaves and "
             f"{len(capability)} config.featureCapability names"]
    if unknown:
        notes.append(f"vSphere featureCapability names not mapped to a CPUID bit: {', '.join(sorted(unknown))}")
    return Dump(path=path, format=HOST_DUMP_FORMAT, cpus=[cpu], notes=notes,
                host={"hostname": doc.get("name"), "vsphere": _summary(doc)},
                extra={"vsphere": doc})


def _cover(cpu: CpuLeaves) -> None:
    """Max basic/extended leaf high enough for every leaf that has a set bit."""
    basic = max((leaf for (leaf, _), regs in cpu.leaves.items() if leaf < 0x40000000 and any(regs)), default=0)
    ext = max((leaf for (leaf, _), regs in cpu.leaves.items() if leaf >= 0x80000000 and any(regs)), default=0)
    eax, ebx, ecx, edx = cpu.get(0)
    cpu.leaves[(0, 0)] = (max(eax, basic), ebx, ecx, edx)
    if ext:
        eax, ebx, ecx, edx = cpu.get(0x80000000)
        cpu.leaves[(0x80000000, 0)] = (max(eax, ext), ebx, ecx, edx)


_VENDOR_REGS = {"GenuineIntel": (0x756E6547, 0x6C65746E, 0x49656E69), "AuthenticAMD": (0x68747541, 0x444D4163, 0x69746E65)}


def vm_dump(doc: dict, path: str) -> Dump:
    """What the running VM requires, as a CPU that has exactly that."""
    from ..knowledge.vmware import vmware_key, vmware_keys

    requirement = doc.get("feature_requirement") or {}
    vendor = None
    for key, value in requirement.items():
        kind, what = vmware_key(key)
        if kind == "vendor" and _on(value):
            vendor = what
    mode = doc.get("min_required_evc_mode") or ""
    vendor = vendor or ("GenuineIntel" if mode.startswith("intel") else "AuthenticAMD" if mode.startswith("amd") else None)
    cpu = CpuLeaves(index=0, label="vSphere runtime.featureRequirement")
    if vendor:
        ebx, ecx, edx = _VENDOR_REGS[vendor]
        cpu.leaves[(0, 0)] = (1, ebx, ecx, edx)
    for name in vmware_keys()["always_exposed"]:
        _set_feature(cpu, name, True)
    wanted = {k: _on(v) for k, v in requirement.items() if k.lower().startswith("cpuid.") and _on(v)}
    applied, unknown = _apply_keys(cpu, wanted, vendor)
    _cover(cpu)
    notes = [f"vSphere VM: the {len(wanted)} features its runtime.featureRequirement names "
             f"(not its host's CPU), plus those every x86-64 CPU has"]
    if not requirement:
        notes.append("vSphere VM without runtime.featureRequirement (powered off?): only the x86-64 base is required")
    if unknown:
        notes.append(f"vSphere featureRequirement names not mapped to a CPUID bit: {', '.join(sorted(unknown))}")
    return Dump(path=path, format=VM_DUMP_FORMAT, cpus=[cpu], notes=notes,
                host={"hostname": doc.get("name"), "vsphere": _summary(doc)}, extra={"vsphere": doc})


def _summary(doc: dict) -> dict:
    keys = ("moid", "name", "cluster", "host", "cpu_model", "max_evc_mode", "min_required_evc_mode", "power_state",
            "hardware_version")
    return {k: doc[k] for k in keys if k in doc}
