"""cpucompat's own fingerprint JSON (``"format": "cpucompat-fingerprint"``, version 1).

The whole document shape lives in ``_from_document`` so it can follow the schema
(``data/fingerprint.schema.json``) in one place. Shape is checked by hand, not with
jsonschema, to keep fleet imports fast; every mismatch names its JSON path
(``raw.cpus[3].leaves[7]: expected 6 hex strings``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from cpucompat.dump import CpuLeaves, Dump, KernelCpu
from cpucompat.errors import InputError
from cpucompat.formats._common import MAX_CPUS

NAME = "fingerprint"
FORMAT = "cpucompat-fingerprint"
VERSION = 1

_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}")
_WRONG_SHAPE = f"JSON of the wrong shape: expected a cpucompat fingerprint (format: {FORMAT})"


class _Shape(Exception):
    """A shape mismatch at a JSON path; turned into an InputError by ``parse``."""


def sniff(text: str) -> bool:
    """True for any JSON-looking text; ``parse`` then insists on the fingerprint shape."""
    return text.lstrip("\ufeff \t\n").startswith(("{", "["))


def parse(text: str, path: str) -> Dump:
    """A fingerprint document as a Dump (raw CPUs, KVM leaves, kernel view, host facts)."""
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as error:
        raise InputError(path, f"invalid JSON: {error.msg}", error.lineno) from None
    except (ValueError, RecursionError) as error:
        raise InputError(path, f"invalid JSON: {error}") from None
    if not isinstance(doc, dict) or "format" not in doc:
        raise InputError(path, _WRONG_SHAPE)
    if doc["format"] != FORMAT:
        raise InputError(path, f"{_WRONG_SHAPE}, got format {doc['format']!r}")
    version = doc.get("version")
    if version != VERSION:
        raise InputError(path, f"fingerprint version {version!r} is not supported (expected {VERSION})")
    try:
        return _from_document(doc, path)
    except _Shape as error:
        raise InputError(path, str(error)) from None


def _from_document(doc: dict, path: str) -> Dump:
    """Map the v1 document onto a Dump; the one place that knows the fingerprint's keys."""
    raw = _object(doc.get("raw"), "raw")
    cpus = [
        _cpu(_object(item, f"raw.cpus[{i}]"), f"raw.cpus[{i}]")
        for i, item in enumerate(_cpu_array(raw.get("cpus"), "raw.cpus"))
    ]
    kvm = raw.get("kvm_supported")
    kvm_leaves = None
    if kvm is not None:
        kvm_object = _object(kvm, "raw.kvm_supported")
        kvm_leaves = CpuLeaves(index=0, label="KVM_GET_SUPPORTED_CPUID")
        kvm_leaves.leaves = _leaves(kvm_object.get("leaves"), "raw.kvm_supported.leaves")
    kernel = dict(_object(doc.get("kernel", {}), "kernel"))
    kernel_cpus = [
        _kernel_cpu(_object(item, f"kernel.cpus[{i}]"), f"kernel.cpus[{i}]")
        for i, item in enumerate(_cpu_array(kernel.pop("cpus", []), "kernel.cpus"))
    ]
    host = dict(_object(doc.get("host", {}), "host"))
    if "hostname" in host:
        _string(host["hostname"], "host.hostname")
    notes = _array(doc.get("notes", []), "notes")
    for i, note in enumerate(notes):
        _string(note, f"notes[{i}]")
    return Dump(
        path=path,
        format=NAME,
        cpus=cpus,
        kernel=kernel_cpus,
        kvm_supported=kvm_leaves,
        degraded=not cpus,
        host=host,
        notes=list(notes),
        extra={
            "firmware": _object(doc.get("firmware", {}), "firmware"),
            "findings": _findings(doc.get("findings", [])),
            "source": _object(doc.get("source", {}), "source"),
            "kernel": kernel,
            "content_hash": doc.get("content_hash"),
        },
    )


def _cpu_array(value: Any, where: str) -> list:
    items = _array(value, where)
    if len(items) > MAX_CPUS:
        raise _Shape(f"{where}: more than {MAX_CPUS} CPUs; expected one host's")
    return items


#: Keys of a BIOS finding (schema: findings.items) and the type each must have.
_FINDING_STRINGS = ("id", "status", "evidence", "explanation")


def _findings(value: Any) -> list[dict]:
    """BIOS findings: objects with string id/status (evidence, explanation) and integer cpus."""
    findings = _array(value, "findings")
    for i, item in enumerate(findings):
        finding = _object(item, f"findings[{i}]")
        for key in _FINDING_STRINGS:
            if key in finding or key in ("id", "status"):
                _string(finding.get(key), f"findings[{i}].{key}")
        for j, cpu in enumerate(_array(finding.get("cpus", []), f"findings[{i}].cpus")):
            _integer(cpu, f"findings[{i}].cpus[{j}]")
    return findings


def _cpu(item: dict, where: str) -> CpuLeaves:
    xcr0 = item.get("xcr0")
    return CpuLeaves(
        index=_integer(item.get("cpu"), f"{where}.cpu"),
        leaves=_leaves(item.get("leaves"), f"{where}.leaves"),
        xcr0=None if xcr0 is None else _hex(xcr0, f"{where}.xcr0", 64),
    )


def _leaves(value: Any, where: str) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    leaves = {}
    for i, row in enumerate(_array(value, where)):
        if not (isinstance(row, list) and len(row) == 6 and all(isinstance(v, str) for v in row)):
            raise _Shape(f"{where}[{i}]: expected 6 hex strings [leaf, subleaf, eax, ebx, ecx, edx]")
        numbers = (_hex(value, f"{where}[{i}][{j}]", 32) for j, value in enumerate(row))
        leaf, subleaf, eax, ebx, ecx, edx = numbers
        leaves[(leaf, subleaf)] = (eax, ebx, ecx, edx)
    return leaves


def _kernel_cpu(item: dict, where: str) -> KernelCpu:
    flags = _array(item.get("flags", []), f"{where}.flags")
    for i, flag in enumerate(flags):
        _string(flag, f"{where}.flags[{i}]")
    optional = {key: item.get(key) for key in ("family", "model", "stepping")}
    return KernelCpu(
        index=_integer(item.get("cpu"), f"{where}.cpu"),
        flags=frozenset(flags),
        vendor_id=_string(item.get("vendor_id", ""), f"{where}.vendor_id"),
        model_name=_string(item.get("model_name", ""), f"{where}.model_name"),
        microcode=_string(item.get("microcode") or "", f"{where}.microcode"),
        **{k: None if v is None else _integer(v, f"{where}.{k}") for k, v in optional.items()},
    )


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Shape(f"{where}: expected an object, got {_kind(value)}")
    return value


def _array(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise _Shape(f"{where}: expected an array, got {_kind(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Shape(f"{where}: expected a string, got {_kind(value)}")
    return value


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Shape(f"{where}: expected a non-negative integer, got {_kind(value)}")
    return value


def _hex(value: Any, where: str, bits: int) -> int:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise _Shape(f"{where}: expected a hex string like '0x1f', got {_kind(value)}")
    number = int(value, 16)
    if number >> bits:
        raise _Shape(f"{where}: {value} is more than {bits} bits")
    return number


def _kind(value: Any) -> str:
    """A short description of a JSON value for messages."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
