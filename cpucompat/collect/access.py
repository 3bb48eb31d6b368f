"""Reading this host's hardware: CPUID per logical CPU, model-specific registers, CPU pinning.

CPUID is read by the instruction itself (the ``cpuid`` package) on a thread pinned to the CPU
with ``os.sched_setaffinity``; that works for any user and also gives the CPU's XCR0 (leaves
the package refuses go through a small machine-code stub, see ``InstructionReader``). A CPU
this process may not run on (a container's cpuset) is read through the kernel's
``/dev/cpu/N/cpuid`` instead (root, ``cpuid`` module): ``pread`` of 16 bytes at offset
``leaf | subleaf << 32`` runs CPUID on that CPU. MSRs are only ever *read*, through
``/dev/cpu/N/msr`` (8 bytes at offset = MSR index). Failures are plain ``OSError``s; the
collector turns them into notes.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

from ..dump import Regs

_REGS = struct.Struct("<4I")


#: x86-64 SysV ``void cpuid(u32 leaf, u32 subleaf, u32 out[4])``: push rbx; mov eax,edi;
#: mov ecx,esi; mov r8,rdx; cpuid; mov [r8],eax; mov [r8+4],ebx; mov [r8+8],ecx;
#: mov [r8+12],edx; pop rbx; ret
CPUID_STUB = bytes.fromhex("53 89f8 89f1 4989d0 0fa2 418900 41895804 41894808 4189500c 5b c3")


#: x86-64 ``u64 xgetbv0(void)``: xor ecx,ecx; xgetbv; shl rdx,32; or rax,rdx; ret
XGETBV_STUB = bytes.fromhex("31c9 0f01d0 48c1e220 4809d0 c3")
XGETBV_OFFSET = 64


def machine_code_cpuid():
    """A ``(leaf, subleaf) -> regs`` function running CPUID from an executable page (ctypes).

    Only for the leaves the ``cpuid`` package refuses; OSError where the OS forbids
    executable anonymous memory or Python is not 64-bit.
    """
    import ctypes
    import mmap

    if struct.calcsize("P") != 8:
        raise OSError(errno.ENOTSUP, "no CPUID stub for a 32-bit Python")
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(CPUID_STUB)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    function = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p)(address)
    out = (ctypes.c_uint32 * 4)()

    def cpuid(leaf: int, subleaf: int) -> Regs:
        function(leaf, subleaf, out)
        return out[0], out[1], out[2], out[3]

    cpuid.page = page  # keep the page mapped as long as the function lives
    return cpuid


class InstructionReader:
    """CPUID and XGETBV on whatever CPU the calling thread runs on (pin it first).

    The ``cpuid`` package's compiled ``cpuid_native`` (GCC's ``__get_cpuid_count``) refuses
    any leaf above the basic or extended maximum, hypervisor (0x40000000) and Centaur
    (0xC0000000) leaves included, and then returns stack garbage with a failure flag that the
    ``cpuid.cpuid_count`` wrapper drops. So the flag is checked here, and a refused leaf goes
    to ``refused(leaf, subleaf)``.
    """

    method = "cpuid-instruction"

    def __init__(self, refused) -> None:
        import cpuid_native  # the cpuid package's compiled core; x86 only

        self._native = cpuid_native
        self.refused = refused

    def cpuid(self, leaf: int, subleaf: int) -> Regs:
        ok, eax, ebx, ecx, edx = self._native.get_cpuid_count(leaf, subleaf)
        return (eax, ebx, ecx, edx) if ok else self.refused(leaf, subleaf)

    def xgetbv(self) -> int | None:
        return self._native.xgetbv(0)


class StubReader:
    """CPUID by ``machine_code_cpuid`` where the ``cpuid`` package is not installed (a Python that
    has only the standard library, such as an Ansible managed host's); XCR0 is not read."""

    method = "cpuid-instruction"

    def __init__(self) -> None:
        self.cpuid = machine_code_cpuid()
        self._xgetbv = None

    def xgetbv(self) -> int | None:
        """XCR0, only where CPUID.1:ECX.OSXSAVE says XGETBV is enabled (it faults otherwise)."""
        if not self.cpuid(1, 0)[2] >> 27 & 1:
            return None
        if self._xgetbv is None:
            import ctypes

            self._xgetbv = self.cpuid.page  # the same page, after the CPUID stub
            self._xgetbv.seek(XGETBV_OFFSET)
            self._xgetbv.write(XGETBV_STUB)
            address = ctypes.addressof(ctypes.c_char.from_buffer(self._xgetbv)) + XGETBV_OFFSET
            self._xgetbv_function = ctypes.CFUNCTYPE(ctypes.c_uint64)(address)
        return int(self._xgetbv_function())


class DevCpuidReader:
    """CPUID of one CPU through ``/dev/cpu/N/cpuid``; XCR0 cannot be read this way."""

    method = "dev-cpu-cpuid"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def cpuid(self, leaf: int, subleaf: int) -> Regs:
        return _REGS.unpack(os.pread(self._fd, 16, leaf | subleaf << 32))

    def xgetbv(self) -> int | None:
        return None

    def close(self) -> None:
        os.close(self._fd)


class HostCpuid:
    """Opens a reader per CPU: the pinned instruction where allowed, else /dev/cpu/N/cpuid.

    Leaves the instruction reader refuses are read through /dev/cpu/N/cpuid when readable
    (no executable memory needed), else by ``machine_code_cpuid``; ``refused_via`` says which.
    ``restore()`` puts back the thread's original CPU affinity; call it in a ``finally``.
    """

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self.allowed = frozenset(os.sched_getaffinity(0))
        self.refused_via: set[str] = set()
        self._instruction: InstructionReader | bool | None = None
        self._cpu: int | None = None
        self._refused_readers: dict[int, object] = {}
        self._stub = None
        self._open: list[DevCpuidReader] = []

    def open(self, cpu: int):
        """A reader for ``cpu``; raises OSError saying why there is none."""
        if cpu in self.allowed and self._instruction_reader():
            os.sched_setaffinity(0, {cpu})
            self._cpu = cpu
            return self._instruction
        return self._dev_reader(cpu)

    def _dev_reader(self, cpu: int) -> DevCpuidReader:
        reader = DevCpuidReader(self.root / f"dev/cpu/{cpu}/cpuid")
        self._open.append(reader)
        return reader

    def _instruction_reader(self) -> InstructionReader | bool:
        if self._instruction is None:
            try:
                self._instruction = InstructionReader(self._refused)
            except ImportError:  # no cpuid package: the machine-code stub, else /dev/cpu/N/cpuid only
                try:
                    self._instruction = StubReader()
                except OSError:
                    self._instruction = False
        return self._instruction

    def _refused(self, leaf: int, subleaf: int) -> Regs:
        reader = self._refused_readers.get(self._cpu)
        if reader is None:
            reader = self._refused_readers[self._cpu] = self._refused_reader(self._cpu)
        return reader(leaf, subleaf)

    def _refused_reader(self, cpu: int):
        try:
            reader = self._dev_reader(cpu).cpuid
            self.refused_via.add("/dev/cpu/N/cpuid")
        except OSError:
            if self._stub is None:
                self._stub = machine_code_cpuid()  # OSError here leaves the range unread, noted
            reader = self._stub
            self.refused_via.add("cpucompat's machine-code CPUID stub")
        return reader

    def restore(self) -> None:
        os.sched_setaffinity(0, self.allowed)
        for reader in self._open:
            reader.close()
        self._open.clear()
        self._refused_readers.clear()


class HostMsr:
    """Read-only access to MSRs through /dev/cpu/N/msr (never writes)."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self._fds: dict[int, int] = {}

    def path(self, cpu: int) -> Path:
        return self.root / f"dev/cpu/{cpu}/msr"

    def read(self, cpu: int, index: int) -> int:
        """The 64-bit value of MSR ``index`` on ``cpu``; OSError when unreadable (EIO: no such MSR)."""
        if cpu not in self._fds:
            self._fds[cpu] = os.open(self.path(cpu), os.O_RDONLY | os.O_CLOEXEC)
        data = os.pread(self._fds[cpu], 8, index)
        if len(data) != 8:
            raise OSError(errno.EIO, "short read")
        return int.from_bytes(data, "little")

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


#: Where modprobe lives; never looked up through $PATH (collect may run as root).
MODPROBE_PATHS = ("/sbin/modprobe", "/usr/sbin/modprobe")


def modprobe_path() -> str | None:
    """The system's modprobe, from MODPROBE_PATHS only."""
    return next((path for path in MODPROBE_PATHS if os.access(path, os.X_OK)), None)


def load_msr_module() -> str:
    """``modprobe msr`` (asked for with --load-msr); returns a note saying what happened."""
    import subprocess

    if os.path.exists("/dev/cpu/0/msr"):
        return "--load-msr: the msr kernel module is already loaded"
    modprobe = modprobe_path()
    if modprobe is None:
        return f"--load-msr: could not run modprobe msr (no {' or '.join(MODPROBE_PATHS)})"
    try:
        done = subprocess.run([modprobe, "msr"], capture_output=True, text=True, timeout=5, check=False,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"--load-msr: could not run modprobe msr ({error})"
    if done.returncode:
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return f"--load-msr: modprobe msr failed: {detail}"
    return "--load-msr: loaded the msr kernel module (modprobe msr) to read BIOS settings from MSRs"
