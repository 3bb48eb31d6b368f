"""Rewrite (or check) the probe's fixture dumps in tests/data/qemu/.

Each fixture is the probe's dump under one pinned ``-cpu`` model, exactly as the guest
printed it between its markers, after three ``#`` comment lines that record provenance
(QEMU version, machine, probe mode, CR4) and the features QEMU said TCG could not provide.
cpucompat's ``cpuid -r`` parser skips the comments and reads the ``xcr0=`` line.

Usage, from the repository root::

    python -m tests.qemu_probe.regenerate            # rewrite all fixtures
    python -m tests.qemu_probe.regenerate --check    # exit 1 when a fresh boot differs
    python -m tests.qemu_probe.regenerate Haswell-v4 # only these models
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tests.qemu_probe import harness

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "qemu"
MACHINE = "q35"

#: The pinned models the fixtures cover (``qemu64`` has only a v1, ``max`` no versions).
MODELS = (
    "max",
    "qemu64",
    "Nehalem-v1",
    "Nehalem-v2",
    "SandyBridge-v1",
    "SandyBridge-v2",
    "IvyBridge-v1",
    "Haswell-v4",
    "Broadwell-v4",
    "Skylake-Client-v4",
    "Skylake-Server-v4",
    "Cascadelake-Server-v4",
    "Icelake-Server-v4",
    "EPYC-v3",
    "EPYC-Rome-v2",
    "EPYC-Milan-v1",
)

_PRODUCED = re.compile(r"# produced by tests/qemu_probe under QEMU (.+) TCG, -cpu (\S+)")


def fixture_path(cpu: str) -> Path:
    """Where the fixture of a plain model name lives."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", cpu):
        raise ValueError(f"fixtures are for plain model names, not {cpu!r}")
    return FIXTURES / f"tcg_{cpu}_cpuid-r.txt"


def fixture_text(result: harness.ProbeResult, version: str | None = None) -> str:
    """The fixture file for one probe result; ``version`` overrides the QEMU version line."""
    dropped = " ".join(str(item) for item in result.unsupported) or "none"
    mode = ("os: CR4.OSXSAVE, XCR0 = all of CPUID.(0xD,0), CR4.PKE with PKU"
            if result.mode == "os" else "bare: reset state, OSXSAVE=0")
    header = [
        f"# produced by tests/qemu_probe under QEMU {version or harness.qemu_version()} TCG, "
        f"-cpu {result.cpu}",
        f"# machine {MACHINE} ({harness.machine_type(MACHINE)}), -smp 1, probe mode {mode}; "
        f"cr4={result.cr4:#010x}",
        f"# TCG dropped: {dropped}",
    ]
    return "\n".join(header) + "\n" + result.text


def recorded(path: Path) -> tuple[str, str]:
    """(QEMU version, -cpu string) from a fixture's first line."""
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    match = _PRODUCED.fullmatch(first)
    if not match:
        raise ValueError(f"{path}: first line is not a probe provenance line: {first!r}")
    return match.group(1), match.group(2)


def fresh(cpu: str, version: str | None = None) -> str:
    """What the fixture of ``cpu`` would hold after a boot now."""
    return fixture_text(harness.probe(cpu, machine=MACHINE), version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)
    if not harness.available():
        print("qemu-system-x86_64 and gcc are needed", file=sys.stderr)
        return 2
    FIXTURES.mkdir(parents=True, exist_ok=True)
    stale = [cpu for cpu in args.models if _handle(cpu, args.check)]
    return 1 if args.check and stale else 0


def _handle(cpu: str, check: bool) -> bool:
    """Write or check one fixture; True when it was stale."""
    path = fixture_path(cpu)
    text = fresh(cpu)
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        print(f"{'ok   ' if old == text else 'STALE'} {path.name}")
    elif old != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.name}")
    return old != text


if __name__ == "__main__":
    sys.exit(main())
