"""Build the CPUID probe guest and boot it under QEMU: the real consumer of a ``-cpu`` mask.

The guest (``probe.c``, ``start.S``, ``probe.ld`` next to this file) is a 32-bit Multiboot
kernel that prints every CPUID leaf it sees in ``cpuid -r`` layout on COM1 and powers off.
``boot(cpu)`` runs it under ``qemu-system-x86_64 -cpu <cpu>`` (TCG by default), cuts the dump
out of the serial stream, checks its line count and parses it with cpucompat's own
``cpuid -r`` parser. ``diff_dumps`` compares two dumps bit by bit.

QEMU 7.2 facts this relies on (../shared/docs/qemu-guest-probe.md): ``-nographic`` cannot be
combined with ``-serial stdio``; ``isa-debug-exit`` defaults to port 0x501, so it is placed at
0xf4 explicitly; TCG silently drops features it cannot emulate unless ``enforce`` is given,
and then refuses to start; setting CR4.OSXSAVE can spin forever under TCG for a few models
(e.g. ``qemu64,+xsave``), which the guest's ``CPUID-PROBE-START`` line lets us detect within
seconds and answer with a retry in bare mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cpucompat.dump import REGISTERS, CpuLeaves, Dump
from cpucompat.formats.reader import parse_text

HERE = Path(__file__).resolve().parent
SOURCES = ("start.S", "probe.c", "probe.ld")
QEMU = "qemu-system-x86_64"
GCC = "gcc"
CFLAGS = (
    "-m32", "-O2", "-ffreestanding", "-fno-builtin", "-fno-pic", "-fno-pie",
    "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-nostdlib", "-static",
    "-Wall", "-Wextra", "-s", "-Wl,--build-id=none",
)
MULTIBOOT_MAGIC = (0x1BADB002).to_bytes(4, "little")
MULTIBOOT_SEARCH = 8192

START = "CPUID-PROBE-START"
BEGIN = "CPUID-PROBE-BEGIN"
END = "CPUID-PROBE-END"
FAULT = "CPUID-PROBE-FAULT"
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x04"
#: QEMU exit statuses that mean the guest powered off on its own.
CLEAN_EXITS = {0: "ACPI power-off", 33: "isa-debug-exit"}
#: Seconds between the guest's START line and its BEGIN line after which OS mode is
#: declared hung (the QEMU 7.2 TCG CR4.OSXSAVE spin); the work in between takes microseconds.
STALL_SECONDS = 5.0

_END_LINE = re.compile(rf"{END} lines=(\d+) cr4=(0x[0-9a-f]+)")
_BEGIN_LINE = re.compile(rf"{BEGIN} mode=(os|bare)")
_UNSUPPORTED = re.compile(
    r"(TCG|host) doesn't support requested feature: "
    r"(CPUID\.[0-9A-F]+H:[A-Z]+)(?:\.(\S+))? \[bit (\d+)\]"
)


class ProbeError(RuntimeError):
    """The probe produced no usable dump: build failure, timeout, guest fault, truncation."""

    def __init__(self, message: str, *, stderr: str = "", stdout: str = "",
                 returncode: int | None = None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.stdout = stdout
        self.returncode = returncode


class QemuRejected(ProbeError):
    """QEMU refused to start the VM (unknown model or flag, ``enforce`` failure, ...).

    ``stderr`` holds QEMU's own words, e.g. ``TCG doesn't support requested features``.
    """


@dataclass(frozen=True)
class Unsupported:
    """One ``... doesn't support requested feature`` warning of QEMU."""

    accelerator: str  # "TCG" or "host"
    word: str  # e.g. "CPUID.07H:EBX"
    name: str  # QEMU's flag name, "" when QEMU prints none
    bit: int

    def __str__(self) -> str:
        return f"{self.word}.{self.name}[{self.bit}]" if self.name else f"{self.word}[{self.bit}]"


@dataclass
class QemuRun:
    """One QEMU process: what it printed and how it ended."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    stalled: bool = False


@dataclass
class ProbeResult:
    """A successful probe boot: the dump text as printed and the parsed ``Dump``."""

    cpu: str
    mode: str  # "os" or "bare"
    text: str  # the lines between the markers, "CPU:" first
    cr4: int
    dump: Dump
    unsupported: list[Unsupported]
    runs: list[QemuRun] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)


# ---- tools ----------------------------------------------------------------------------


def available() -> bool:
    """True when both QEMU and gcc are on PATH."""
    return shutil.which(QEMU) is not None and shutil.which(GCC) is not None


@lru_cache(maxsize=None)
def qemu_version() -> str:
    """QEMU's version as it prints it, e.g. ``7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)``."""
    first = _tool_output(QEMU, "--version").splitlines()[0]
    return first.split("version", 1)[1].strip() if "version" in first else first.strip()


def qemu_release(version: str | None = None) -> tuple[int, int]:
    """(major, minor) of a version string (QEMU's own when none is given)."""
    match = re.match(r"(\d+)\.(\d+)", version if version is not None else qemu_version())
    if not match:
        raise ProbeError(f"cannot read a QEMU version from {version!r}")
    return int(match.group(1)), int(match.group(2))


def _qmp(*requests: dict, accel: str = "tcg") -> list:
    """The replies of a QEMU without a guest (``-machine none``) to QMP requests, in order."""
    lines = [{"execute": "qmp_capabilities"}, *requests, {"execute": "quit"}]
    out = subprocess.run([QEMU, "-machine", "none", "-accel", accel, "-nodefaults", "-nographic", "-qmp", "stdio"],
                         input="".join(json.dumps(line) + "\n" for line in lines), capture_output=True,
                         text=True, timeout=60).stdout
    replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    returns = [reply["return"] for reply in replies if "return" in reply]
    if len(returns) != len(lines):
        raise ProbeError(f"QMP {requests}: {out.strip()}")
    return returns[1:-1]


@lru_cache(maxsize=None)
def qmp_expansion(model: str, accel: str = "tcg") -> dict:
    """``query-cpu-model-expansion`` type full of one model: its properties as this QEMU sets them."""
    request = {"execute": "query-cpu-model-expansion", "arguments": {"type": "full", "model": {"name": model}}}
    return _qmp(request, accel=accel)[0]["model"]["props"]


@lru_cache(maxsize=None)
def _cpu_definitions() -> tuple[dict, ...]:
    return tuple(_qmp({"execute": "query-cpu-definitions"})[0])


def tcg_unavailable(model: str) -> frozenset[str]:
    """What this QEMU's TCG cannot give a model (QEMU names), as QEMU itself says: the
    ``unavailable-features`` of ``query-cpu-definitions`` under ``-accel tcg``. ``enforce``
    refuses exactly these; without it TCG drops them with a warning."""
    for definition in _cpu_definitions():
        if definition["name"] == model:
            return frozenset(definition.get("unavailable-features", ()))
    raise ProbeError(f"QEMU {qemu_version()} has no CPU model {model}")


@lru_cache(maxsize=None)
def machine_type(machine: str = "q35") -> str:
    """What a machine alias resolves to in this QEMU (``q35`` -> ``pc-q35-7.2``)."""
    for line in _tool_output(QEMU, "-machine", "help").splitlines():
        fields = line.split()
        if fields and fields[0] == machine:
            alias = re.search(r"\(alias of ([^)]+)\)", line)
            return alias.group(1) if alias else machine
    return machine


def _tool_output(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=30, check=False)
    return done.stdout + done.stderr


# ---- building the guest ---------------------------------------------------------------


def default_build_dir() -> Path:
    """The per-user build cache in the system temporary directory."""
    return Path(tempfile.gettempdir()) / f"cpucompat-qemu-probe-{os.getuid()}"


def source_hash() -> str:
    """Hash of the guest sources, the compiler flags and the compiler version."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    digest.update(" ".join(CFLAGS).encode())
    digest.update(_tool_output(GCC, "--version").splitlines()[0].encode())
    return digest.hexdigest()[:16]


def build_probe(workdir: Path | str | None = None) -> Path:
    """The probe image ``probe.elf``, compiled once per source hash under ``workdir``.

    The linker may warn about the single read-write-execute segment; that is by design
    (paging is off) and its output is only shown when the build fails.
    """
    target = Path(workdir or default_build_dir()) / source_hash() / "probe.elf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"probe.elf.{os.getpid()}.tmp")
    argv = [GCC, *CFLAGS, f"-Wl,-T,{HERE / 'probe.ld'}", "-o", str(partial),
            str(HERE / "start.S"), str(HERE / "probe.c")]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ProbeError(f"building the probe failed:\n{' '.join(argv)}\n{done.stderr}",
                         stderr=done.stderr, returncode=done.returncode)
    check_image(partial)
    os.replace(partial, target)
    return target


def check_image(path: Path) -> None:
    """Raise unless ``path`` is an ELF32 with the Multiboot header 4-byte aligned in 8 KiB."""
    head = path.read_bytes()[:MULTIBOOT_SEARCH]
    if head[:5] != b"\x7fELF\x01":
        raise ProbeError(f"{path}: not a 32-bit ELF; QEMU's Multiboot loader needs ELF32")
    offsets = [m.start() for m in re.finditer(re.escape(MULTIBOOT_MAGIC), head)]
    if not any(offset % 4 == 0 for offset in offsets):
        raise ProbeError(f"{path}: no 4-byte aligned Multiboot header in the first 8 KiB")


# ---- running QEMU ---------------------------------------------------------------------


def qemu_command(cpu: str, kernel: Path, *, accel: str = "tcg", machine: str = "q35",
                 bare: bool = False) -> list[str]:
    """The QEMU command line that boots the probe once."""
    argv = [QEMU, "-machine", machine, "-accel", accel, "-cpu", cpu, "-smp", "1", "-m", "64M",
            "-kernel", str(kernel), "-nodefaults", "-display", "none", "-serial", "stdio",
            "-monitor", "none", "-no-reboot", "-device", DEBUG_EXIT]
    if bare:
        argv += ["-append", "bare"]
    return argv


class _Reader(threading.Thread):
    """Collects one pipe; notes when the guest started and when it began the dump."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.data = bytearray()
        self.started = threading.Event()
        self.begun = threading.Event()

    def run(self) -> None:
        while chunk := self.stream.read1(65536):
            self.data += chunk
            if not self.started.is_set() and START.encode() in self.data:
                self.started.set()
            if not self.begun.is_set() and BEGIN.encode() in self.data:
                self.begun.set()

    def text(self) -> str:
        return self.data.decode("utf-8", "replace").replace("\r", "")


def run_qemu(argv: list[str], *, timeout: float = 20,
             stall: float | None = STALL_SECONDS) -> QemuRun:
    """Run QEMU with stdin closed; kill it after ``timeout`` s, or ``stall`` s after START."""
    began = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = _Reader(proc.stdout), _Reader(proc.stderr)
    out.start()
    err.start()
    timed_out = stalled = False
    try:
        if stall is not None:
            stalled = _watch_for_stall(proc, out, began + timeout, stall)
        proc.wait(timeout=max(0.0, began + timeout - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.join()
    err.join()
    return QemuRun(argv, proc.returncode, out.text(), err.text(), time.monotonic() - began,
                   timed_out=timed_out, stalled=stalled)


def _watch_for_stall(proc: subprocess.Popen, out: _Reader, deadline: float, stall: float) -> bool:
    """True (after killing QEMU) when the guest started but did not begin its dump in time."""
    while proc.poll() is None and not out.started.wait(0.05):
        if time.monotonic() >= deadline:
            return False
    if proc.poll() is not None:
        return False
    if out.begun.wait(min(stall, max(0.0, deadline - time.monotonic()))):
        return False
    if proc.poll() is None and time.monotonic() < deadline:
        proc.kill()
        return True
    return False


# ---- the probe ------------------------------------------------------------------------


def probe(cpu: str, *, accel: str = "tcg", machine: str = "q35", timeout: float = 20,
          bare: bool = False, stall: float | None = STALL_SECONDS,
          kernel: Path | None = None) -> ProbeResult:
    """Boot the probe under ``-cpu cpu`` and return its dump with everything around it.

    In OS mode a boot that stalls while setting CR4/XCR0 is retried in bare mode; the
    ``Dump.notes`` say so. Raises ``QemuRejected`` when QEMU refuses the command line and
    ``ProbeError`` for any other failure.
    """
    kernel = kernel or build_probe()
    run = run_qemu(qemu_command(cpu, kernel, accel=accel, machine=machine, bare=bare),
                   timeout=timeout, stall=None if bare else stall)
    if run.stalled:
        retry = run_qemu(qemu_command(cpu, kernel, accel=accel, machine=machine, bare=True),
                         timeout=timeout, stall=None)
        result = _result(cpu, accel, retry)
        result.runs.insert(0, run)
        result.dump.notes.append(
            f"OS mode stalled after {START} (QEMU TCG CR4.OSXSAVE hang); dumped in bare mode")
        return result
    return _result(cpu, accel, run)


def boot(cpu: str, *, accel: str = "tcg", machine: str = "q35", timeout: float = 20,
         bare: bool = False, stall: float | None = STALL_SECONDS,
         kernel: Path | None = None) -> Dump:
    """The CPUID a guest sees under ``-cpu cpu``, parsed by cpucompat's ``cpuid -r`` parser.

    ``Dump.extra["qemu_probe"]`` holds the QEMU version, mode, CR4, timing and the features
    QEMU reported it could not provide.
    """
    return probe(cpu, accel=accel, machine=machine, timeout=timeout, bare=bare, stall=stall,
                 kernel=kernel).dump


def _result(cpu: str, accel: str, run: QemuRun) -> ProbeResult:
    _raise_for_failure(cpu, run)
    mode, text, cr4 = cut_dump(run.stdout, cpu)
    dump = parse_text(text, f"qemu-{accel}:{cpu}")
    unsupported = parse_unsupported(run.stderr)
    dump.extra["qemu_probe"] = {
        "cpu": cpu, "accel": accel, "qemu": qemu_version(), "mode": mode, "cr4": cr4,
        "seconds": round(run.seconds, 3), "exit": CLEAN_EXITS.get(run.returncode),
        "unsupported": [str(item) for item in unsupported],
    }
    return ProbeResult(cpu, mode, text, cr4, dump, unsupported, [run])


def _raise_for_failure(cpu: str, run: QemuRun) -> None:
    args = {"stderr": run.stderr, "stdout": run.stdout, "returncode": run.returncode}
    if run.timed_out:
        raise ProbeError(f"-cpu {cpu!r}: QEMU did not finish within the timeout "
                         f"({run.seconds:.1f} s); serial output:\n{run.stdout[-2000:]}", **args)
    if FAULT in run.stdout:
        line = next(x for x in run.stdout.splitlines() if x.startswith(FAULT))
        raise ProbeError(f"-cpu {cpu!r}: the probe took a CPU exception: {line}", **args)
    if BEGIN not in run.stdout and run.returncode not in CLEAN_EXITS:
        raise QemuRejected(f"QEMU rejected -cpu {cpu!r} (exit {run.returncode}):\n"
                           f"{run.stderr.strip()}", **args)
    if run.returncode not in CLEAN_EXITS:
        raise ProbeError(f"-cpu {cpu!r}: QEMU exited with status {run.returncode}:\n"
                         f"{run.stderr.strip()}", **args)


def cut_dump(serial: str, cpu: str = "?") -> tuple[str, str, int]:
    """(mode, dump text, CR4) from the guest's serial output; checks the line count."""
    lines = serial.replace("\r", "").split("\n")
    begin = next((i for i, line in enumerate(lines) if _BEGIN_LINE.fullmatch(line)), None)
    end = next((i for i, line in enumerate(lines) if _END_LINE.fullmatch(line)), None)
    if begin is None or end is None or end < begin:
        raise ProbeError(f"-cpu {cpu!r}: the serial output holds no complete dump:\n"
                         f"{serial[-2000:]}", stdout=serial)
    body = lines[begin + 1:end]
    expected, cr4 = _END_LINE.fullmatch(lines[end]).groups()
    if len(body) != int(expected):
        raise ProbeError(f"-cpu {cpu!r}: the dump has {len(body)} lines, the guest printed "
                         f"{expected}", stdout=serial)
    mode = _BEGIN_LINE.fullmatch(lines[begin]).group(1)
    return mode, "\n".join(body) + "\n", int(cr4, 16)


def parse_unsupported(stderr: str) -> list[Unsupported]:
    """QEMU's ``... doesn't support requested feature: CPUID.07H:EBX.hle [bit 4]`` warnings."""
    return [Unsupported(m.group(1), m.group(2), m.group(3) or "", int(m.group(4)))
            for m in _UNSUPPORTED.finditer(stderr)]


# ---- comparing dumps --------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class BitChange:
    """One CPUID bit that differs between two dumps."""

    leaf: int
    subleaf: int
    register: str
    bit: int
    old: int
    new: int

    def __str__(self) -> str:
        where = f"{self.leaf:#010x}.{self.subleaf:#04x}:{self.register}[{self.bit}]"
        return f"{where} {self.old}->{self.new}"


@dataclass
class DumpDiff:
    """Bit-level differences of two single-CPU dumps, by (leaf, subleaf, register)."""

    changed: list[BitChange]
    only_old: list[tuple[int, int]]
    only_new: list[tuple[int, int]]
    xcr0: tuple[int | None, int | None] | None = None

    def __bool__(self) -> bool:
        return bool(self.changed or self.only_old or self.only_new or self.xcr0)

    def __str__(self) -> str:
        parts = [str(change) for change in self.changed]
        parts += [f"only in old: {leaf:#010x}.{sub:#04x}" for leaf, sub in self.only_old]
        parts += [f"only in new: {leaf:#010x}.{sub:#04x}" for leaf, sub in self.only_new]
        if self.xcr0:
            parts.append(f"xcr0: {self.xcr0[0]} -> {self.xcr0[1]}")
        return "\n".join(parts) or "no difference"


#: {(leaf, subleaf or None for all, register): mask of bits to ignore}.
IgnoreMasks = dict[tuple[int, int | None, str], int]


def diff_dumps(old: Dump | CpuLeaves, new: Dump | CpuLeaves,
               ignore: IgnoreMasks | None = None) -> DumpDiff:
    """Every bit that differs in a (leaf, subleaf) both dumps hold, and the keys only one has."""
    a, b = _single_cpu(old), _single_cpu(new)
    changed: list[BitChange] = []
    for key in sorted(a.leaves.keys() & b.leaves.keys()):
        for index, register in enumerate(REGISTERS):
            mask = _ignored(ignore or {}, key, register)
            changed += _bit_changes(key, register, a.leaves[key][index], b.leaves[key][index], mask)
    xcr0 = (a.xcr0, b.xcr0) if a.xcr0 != b.xcr0 else None
    return DumpDiff(changed, sorted(a.leaves.keys() - b.leaves.keys()),
                    sorted(b.leaves.keys() - a.leaves.keys()), xcr0)


def _bit_changes(key: tuple[int, int], register: str, old: int, new: int,
                 ignored: int) -> list[BitChange]:
    delta = (old ^ new) & ~ignored & 0xFFFFFFFF
    return [BitChange(key[0], key[1], register, bit, old >> bit & 1, new >> bit & 1)
            for bit in range(32) if delta >> bit & 1]


def _single_cpu(dump: Dump | CpuLeaves) -> CpuLeaves:
    if isinstance(dump, CpuLeaves):
        return dump
    if len(dump.cpus) != 1:
        raise ValueError(f"{dump.path}: expected one CPU, found {len(dump.cpus)}")
    return dump.cpus[0]


def _ignored(ignore: IgnoreMasks, key: tuple[int, int], register: str) -> int:
    return ignore.get((key[0], key[1], register), 0) | ignore.get((key[0], None, register), 0)
