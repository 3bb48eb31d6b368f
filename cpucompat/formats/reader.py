"""Reading CPUID dump files: size limit, text decoding, format detection by content, dispatch.

Owns everything between a path and a ``Dump``: the 32 MiB limit (checked before the file is
read whole), refusing binary data, CRLF/CR line ends, and choosing the parser by what the
text looks like, never by the file name. Each format lives in its own module with
``sniff(text) -> bool`` and ``parse(text, path) -> Dump``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from typing import BinaryIO

from cpucompat.dump import Dump
from cpucompat.errors import InputError
from cpucompat.formats import aida64, cpuid_r, fingerprint, libcpuid, libvirt_xml, proc_cpuinfo, vsphere

MAX_BYTES = 32 * 1024 * 1024
STDIN = "-"

#: Sniffing order: the unambiguous openings first (vSphere records before any other JSON),
#: libcpuid before the AIDA64 text it embeds.
_PARSERS = (vsphere, fingerprint, libvirt_xml, libcpuid, cpuid_r, aida64, proc_cpuinfo)

#: The format names a Dump can carry (``Dump.format``).
FORMATS: tuple[str, ...] = (
    fingerprint.NAME,
    cpuid_r.NAME,
    libvirt_xml.NAME,
    aida64.NAME,
    libcpuid.NAME,
    proc_cpuinfo.NAME,
)
_KNOWN = (
    "cpucompat fingerprint JSON, `cpuid -r` text, libvirt <cpudata> XML, "
    "AIDA64/InstLatx64 text, libcpuid .test, /proc/cpuinfo"
)
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")  # surrogates: undecodable bytes

__all__ = ["FORMATS", "MAX_BYTES", "check_size", "open_regular", "parse_bytes", "parse_text", "read_dump"]


def open_regular(path: str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; an InputError otherwise.

    Opened without blocking, so a FIFO (or a device) is refused at once instead of waiting
    forever for a writer; standard input is read only as ``-``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a special file"
            raise InputError(path, f"cannot read {kind}: expected a regular file (or - for standard input)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_dump(path: str | os.PathLike[str]) -> Dump:
    """Read and parse one dump file (``-`` = standard input), whatever its format."""
    name = os.fspath(path)
    if name == STDIN:
        return parse_text(_decode(_read_limited(sys.stdin.buffer, "<stdin>"), "<stdin>"), "<stdin>")
    try:
        with open_regular(name) as stream:
            check_size(os.fstat(stream.fileno()).st_size, name)
            data = _read_limited(stream, name)
    except OSError as error:
        raise InputError(name, f"cannot read: {error.strerror or error}") from None
    return parse_bytes(data, name)


def read_host(path: str | os.PathLike[str]) -> Dump:
    """``read_dump`` for an input that stands for a host's CPU (a vSphere VM record is refused)."""
    return vsphere.require_host(read_dump(path))


def parse_bytes(data: bytes, path: str) -> Dump:
    """Parse a dump already read whole (UTF-8, or UTF-16 with a BOM)."""
    return parse_text(_decode(data, path), path)


def parse_text(text: str, path: str) -> Dump:
    """Parse dump text; ``path`` only names the input in messages and in ``Dump.path``."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    binary = _BINARY.search(text)
    if binary:
        line = text.count("\n", 0, binary.start()) + 1
        raise InputError(path, "binary data, expected a text CPUID dump", line)
    if not text.strip():
        raise InputError(path, f"empty file, expected a CPUID dump ({_KNOWN})")
    for parser in _PARSERS:
        if parser.sniff(text):
            return parser.parse(text, path)
    raise InputError(path, f"unknown format: expected one of {_KNOWN}", 1)


def check_size(size: int, path: str) -> None:
    """InputError for a file over MAX_BYTES."""
    if size > MAX_BYTES:
        raise InputError(path, f"file is {size / 1e6:.1f} MB; a CPUID dump is at most 32 MiB")


def _read_limited(stream: BinaryIO, path: str) -> bytes:
    """At most MAX_BYTES; pipes and special files have no size to check up front."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(path, "input is over 32 MiB; a CPUID dump is at most 32 MiB")
    return data


def _decode(data: bytes, path: str) -> str:
    """UTF-8 or BOM-marked UTF-16 (PowerShell redirects) text.

    Undecodable UTF-8 bytes become lone surrogates, which ``parse_text`` reports as binary
    data on their line, like NUL and other control bytes.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(path, "binary data, expected a text CPUID dump", 1) from None
    return data.decode("utf-8", "surrogateescape")
