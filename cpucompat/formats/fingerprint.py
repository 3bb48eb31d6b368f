"""cpucompat's own fingerprint JSON (``"format": "cpucompat-fingerprint"``, version 1): reader and writer.

A fingerprint is what the host agent leaves on each server: the raw CPUID of every logical
CPU (and what KVM can offer guests), XCR0, the kernel's view, firmware facts, BIOS findings
and notes. ``content_hash`` covers the ``raw`` part only, so two collections of the same
hardware and settings hash alike whatever the hostname or time. Files are written with
``cpucompat.output.write_text``.

The shape has one truth, ``data/fingerprint.schema.json``: ``parse`` checks every document
against it with a validator fastjsonschema compiles once, on first use, and every mismatch
is one error naming its JSON path (``raw.cpus[3].leaves[7]: expected 6 hex strings ...``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from .. import __version__
from ..dump import CpuLeaves, Dump, KernelCpu
from ..errors import InputError
from ._common import MAX_CPUS, shorten

NAME = "fingerprint"
FORMAT = "cpucompat-fingerprint"
VERSION = 1

_WRONG_SHAPE = f"JSON of the wrong shape: expected a cpucompat fingerprint (format: {FORMAT})"


# --- writer ---

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


# --- reader ---

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
        raise InputError(path, f"{_WRONG_SHAPE}, got format {shorten(repr(doc['format']))}")
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise InputError(path, f"fingerprint version {shorten(repr(version))} is not supported (expected {VERSION})")
    problem = validate(doc)
    if problem:
        raise InputError(path, problem)
    return _from_document(doc, path)


@functools.cache
def _validator():
    """The schema's validator, compiled on first use (fastjsonschema generates Python code)."""
    import fastjsonschema

    from ..knowledge.tables import document

    return fastjsonschema.compile(document("fingerprint.schema.json")), fastjsonschema.JsonSchemaValueException


def validate(doc: Any) -> str | None:
    """None when ``doc`` follows data/fingerprint.schema.json, else what is wrong and where."""
    check, invalid = _validator()
    try:
        check(doc)
    except invalid as error:
        return _message(error)
    return None


#: How a schema type reads in "expected ..., got ...".
_TYPE_WORDS = {"string": "a string", "object": "an object", "array": "an array", "integer": "an integer",
               "null": "null", "number": "a number", "boolean": "a boolean"}


def _message(error) -> str:
    """A schema violation as ``JSON.PATH: expected ..., got ...`` (the path without ``data``)."""
    where = error.name.removeprefix("data").lstrip(".")
    rule, schema, value = error.rule, error.definition, error.value
    if rule == "type":
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        text = f"expected {' or '.join(_TYPE_WORDS.get(t, t) for t in types)}, got {_kind(value)}"
    elif rule == "required":
        text = "missing " + ", ".join(key for key in schema["required"] if key not in value)
    elif rule == "additionalProperties":
        extra = sorted(set(value) - set(schema.get("properties", {})))
        text = "unexpected " + ", ".join(shorten(repr(key)) for key in extra[:3]) + (" ..." if len(extra) > 3 else "")
    elif rule == "maxItems" and where.endswith("cpus"):
        text = f"more than {MAX_CPUS} CPUs; expected one host's"
    elif "description" in schema:
        text = f"expected {schema['description']}, got {_kind(value)}"
    else:
        text = error.message.removeprefix(error.name).strip()
    return shorten(f"{where}: {text}" if where else text, 400)


def _from_document(doc: dict, path: str) -> Dump:
    """Map a valid v1 document onto a Dump; the one place that knows the fingerprint's keys."""
    raw = doc["raw"]
    cpus = [_cpu(item) for item in raw["cpus"]]
    kvm = raw.get("kvm_supported")
    kvm_leaves = None
    if kvm is not None:
        kvm_leaves = CpuLeaves(index=0, label="KVM_GET_SUPPORTED_CPUID")
        kvm_leaves.leaves = _leaves(kvm["leaves"])
    kernel = dict(doc.get("kernel", {}))
    kernel_cpus = [_kernel_cpu(item) for item in kernel.pop("cpus", [])]
    return Dump(
        path=path,
        format=NAME,
        cpus=cpus,
        kernel=kernel_cpus,
        kvm_supported=kvm_leaves,
        degraded=not cpus,
        host=dict(doc["host"]),
        notes=list(doc.get("notes", [])),
        extra={
            "firmware": doc.get("firmware", {}),
            "findings": doc.get("findings", []),
            "source": doc["source"],
            "kernel": kernel,
            "content_hash": doc.get("content_hash"),
        },
    )


def _cpu(item: dict) -> CpuLeaves:
    xcr0 = item.get("xcr0")
    return CpuLeaves(index=int(item["cpu"]), leaves=_leaves(item["leaves"]),
                     xcr0=None if xcr0 is None else int(xcr0, 16))


def _leaves(rows: list) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    leaves = {}
    for row in rows:
        leaf, subleaf, eax, ebx, ecx, edx = (int(value, 16) for value in row)
        leaves[(leaf, subleaf)] = (eax, ebx, ecx, edx)
    return leaves


def _kernel_cpu(item: dict) -> KernelCpu:
    optional = {key: item.get(key) for key in ("family", "model", "stepping")}
    return KernelCpu(
        index=int(item["cpu"]),
        flags=frozenset(item.get("flags", [])),
        vendor_id=item.get("vendor_id", ""),
        model_name=item.get("model_name", ""),
        microcode=item.get("microcode") or "",
        **{k: None if v is None else int(v) for k, v in optional.items()},
    )


def _kind(value: Any) -> str:
    """A short description of a JSON value for messages."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return shorten(repr(value))
