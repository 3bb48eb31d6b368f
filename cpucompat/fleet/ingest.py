"""Reading a fleet: files and folders of dumps, fingerprints and fleet tables, into one ``Fleet``.

Folders are walked recursively (sorted; names starting with '.' are skipped). A file named
on the command line must read; a file found in a folder that does not read is skipped with
its reason (``Ingested.skipped``), so one stray README does not stop a 100k-host import.

Fingerprints take a fast path, because fleets repeat hardware: identical servers with
identical settings have identical raw CPUID. Each file is read once. The raw CPU section of a
fingerprint is the key of a cache of decoded rows; a miss parses the bytes read by the one
generic path (``parse_bytes`` and ``decode``, the same code as ``cpucompat decode``), a hit
costs a JSON parse. Nothing else in a
fingerprint reaches the fleet table (the kernel's microcode version only feeds a decode
warning), so a hit gives exactly what the generic path would.

Progress is reported through an optional ``progress(done, total)`` callback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..decode import decode
from ..dump import Dump, unique_names
from ..errors import CpuCompatError, InputError
from .bits import pack
from .model import Fleet, concat, from_records, host_scalars
from .tables import CSV_HEADER, MissingParquet, kind_of, read_table
from ..formats.reader import check_size, open_regular, parse_bytes
from ..formats import fingerprint
from ..formats.vsphere import require_host

Progress = Callable[[int, int], None]
#: Report progress every this many files.
PROGRESS_STEP = 256


@dataclass
class Ingested:
    """The fleet read, and the folder files that were skipped (path, reason)."""

    fleet: Fleet
    skipped: list[tuple[str, str]] = field(default_factory=list)


def walk(inputs: Sequence[str], unreadable: list[tuple[str, str]] | None = None) -> list[tuple[str, bool]]:
    """Every input file as (path, named on the command line).

    Folders that cannot be listed (permissions, vanished) are added to ``unreadable`` as
    (path, reason), never dropped silently.
    """
    found = []

    def failed(error: OSError) -> None:
        if unreadable is not None:
            unreadable.append((error.filename or "?", f"cannot read folder: {error.strerror or error}"))

    for item in inputs:
        if not os.path.isdir(item):
            found.append((item, True))
            continue
        for folder, subfolders, files in os.walk(item, onerror=failed):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            found += [(os.path.join(folder, f), False) for f in sorted(files) if not f.startswith(".")]
    return found


class HostReader:
    """Reads one input file: a fleet table, or one host as (name, packed row, scalars).

    Decodes of fingerprints are cached by their raw CPUs.
    """

    def __init__(self) -> None:
        self.cache: dict[tuple, tuple] = {}

    def read(self, path: str) -> Fleet | tuple:
        data = _dump_bytes(path)
        if data is None:
            return read_table(path)
        key, document = _fingerprint_key(data)
        hit = self.cache.get(key) if key else None
        if hit is not None:
            return (Dump(path, fingerprint.NAME, host=document.get("host") or {}).name, *hit)
        host = decode(require_host(parse_bytes(data, path)))
        record = (pack(host.features), host_scalars(host))
        if key:
            self.cache[key] = record
        return (host.name, *record)


def _dump_bytes(path: str) -> bytes | None:
    """The bytes of a dump of at most ``MAX_BYTES``, or None for a fleet table (which has its own,
    larger limit); an InputError for anything but a regular file (a FIFO is never waited on)."""
    try:
        with open_regular(path) as handle:
            head = handle.read(len(CSV_HEADER))
            if kind_of(head):
                return None
            check_size(os.fstat(handle.fileno()).st_size, path)
            return head + handle.read()
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None


def _fingerprint_key(data: bytes) -> tuple[tuple | None, dict]:
    """The cache key of a fingerprint (its raw CPUs), or None for anything else."""
    if not data.lstrip()[:1] == b"{":
        return None, {}
    try:
        document = json.loads(data)
        # Cheap checks only (the whole-schema check costs ~50 times json.loads): a cache hit has the
        # raw CPUs of a file the reader validated; anything else goes through the reader.
        if (document["format"] != fingerprint.FORMAT or document["version"] != fingerprint.VERSION
                or not isinstance(document.get("host", {}), dict)
                or not isinstance(document.get("host", {}).get("hostname", ""), str)):
            return None, {}
        return _cpus_key(document["raw"]["cpus"]), document
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None, {}  # the generic path reports what is wrong


def _cpus_key(cpus: list) -> tuple | None:
    """Raw CPUs as (cpu, xcr0, leaf rows as one string) tuples; None unless shaped like a fingerprint's.

    Exact: rows of 6 strings joined by ',' and ';' hold exactly 5 commas a row and a ';'
    between rows only when no string holds either, so equal keys mean equal leaves.
    """
    key = []
    for cpu in cpus:
        leaves = cpu["leaves"]
        if type(leaves) is not list or set(map(type, leaves)) - {list} or set(map(len, leaves)) - {6}:
            return None
        rows = ";".join(map(",".join, leaves))
        if rows.count(",") != 5 * len(leaves) or rows.count(";") != max(len(leaves) - 1, 0):
            return None
        key.append((repr(cpu["cpu"]), repr(cpu.get("xcr0")), rows))
    return tuple(key) or None  # no raw CPUs: degraded, kernel view only


def _unique_names(names: list[str], paths: list[str]) -> list[str]:
    """Host names, with the file path instead wherever a name is not unique (``dump.unique_names``)."""
    return unique_names(names, paths)


def _read_all(files: list[tuple[str, bool]], progress: Progress | None):
    """Tables, host records (with their paths) and skipped files, in input order."""
    reader, tables, hosts, paths, skipped = HostReader(), [], [], [], []
    for done, (path, given) in enumerate(files, 1):
        try:
            item = reader.read(path)
        except (CpuCompatError, OSError, ValueError, RecursionError, MemoryError) as error:
            if isinstance(error, MissingParquet):
                raise
            if given:
                if isinstance(error, CpuCompatError):
                    raise
                raise InputError(path, f"cannot read: {error}") from None
            skipped.append((path, getattr(error, "reason", None) or f"cannot read: {error}"))
        else:
            if isinstance(item, Fleet):
                tables.append(item)
            else:
                hosts.append(item)
                paths.append(path)
        if progress and (done % PROGRESS_STEP == 0 or done == len(files)):
            progress(done, len(files))
    return tables, hosts, paths, skipped


def ingest(inputs: Sequence[str], progress: Progress | None = None) -> Ingested:
    """Read files, folders and fleet tables into one fleet: tables first, then host files."""
    unreadable: list[tuple[str, str]] = []
    tables, hosts, paths, skipped = _read_all(walk(inputs, unreadable), progress)
    skipped = unreadable + skipped
    if hosts:
        names, rows, scalars = zip(*hosts)
        tables.append(from_records(_unique_names(list(names), paths), rows, scalars))
    if not tables:
        raise CpuCompatError(f"no host found in {', '.join(inputs)}")
    return Ingested(concat(tables), skipped)
