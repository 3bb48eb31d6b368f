"""A bounded fuzz run of every command over mutated inputs of every format.

Seeds: the hand-written samples of every dump format (tests/parsers/_samples.py), the
fixtures in tests/data, and fleet tables (CSV, Parquet) written by ``fleet -o``. Each seed is
mutated with a fixed random seed (bytes flipped, cut, repeated, control bytes and huge numbers
put in, JSON values swapped for other types) and fed, in-process, to ``decode``, ``baseline``,
``compare``, ``evc check``, ``fleet`` and ``mask`` in every format. Whatever the input:

- no traceback: the command ends through ``SystemExit`` with 0, 1 (compare: incompatible) or 2;
- exit 2 means exactly one ``error:`` line, the last line on stderr, itself one line;
- no run takes more than a few seconds.

CI runs a few examples per seed (a few seconds in all); ``CPUCOMPAT_FUZZ_EXAMPLES=N`` runs N
per seed, each through every command.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.masks import FORMATS

from .conftest import TEST_DATA
from .formats import _samples

EXAMPLES = int(os.environ.get("CPUCOMPAT_FUZZ_EXAMPLES", "0") or 0)
LONG = EXAMPLES > 0
PER_SEED = EXAMPLES or 3
#: Seconds one command may take on a mutated input (generous for a loaded CI machine).
SLOW = 5.0
MASK_FORMATS = tuple(FORMATS)
FIXTURE = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
runner = CliRunner()


@cache
def _tables() -> dict[str, bytes]:
    """A small fleet table as CSV and (when pyarrow is installed) Parquet, written by the library."""
    import tempfile

    from cpucompat.fleet import model as M, tables as fleet_io
    from cpucompat.decode import decode
    from cpucompat.formats.reader import read_dump

    host = decode(read_dump(FIXTURE))
    fleet = M.from_decoded([dataclasses.replace(host, name=n, features=host.features - {f})
                            for n, f in (("a", "avx2"), ("007", "aes"), ("NA", "sse4_2"))])
    tables = {}
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("csv", "parquet"):
            path = os.path.join(folder, f"fleet.{suffix}")
            try:
                fleet_io.write_table(fleet, path)
            except Exception:  # noqa: BLE001 - no pyarrow: no Parquet seed
                continue
            tables[f"table-{suffix}"] = Path(path).read_bytes()
    return tables


def seeds() -> dict[str, bytes]:
    found = {name: text.encode() for name, text in _samples.SAMPLES.items()}
    found["fixture-cpuid-r"] = FIXTURE.read_bytes()
    found["fixture-proc-cpuinfo"] = (TEST_DATA / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt").read_bytes()
    return found


SEED_NAMES = sorted(seeds()) + ["table-csv", "table-parquet"]


# --- mutations ---------------------------------------------------------------------------

NASTY = [b"\n", b"\x00", b"\x1b[2J", b"\xff", b"\r", b"\t", b"-", b"0x", b"ffffffffffffffffffff",
         b"99999999999999999999999", b"[SL 7f]", b"CPU 9999:", b"CPUID 0000000D: ", b"\xef\xbb\xbf",
         b"processor : 1\n", b"<cpuid eax_in='0x0d' ecx_in='0x40'/>", b"\"", b"{", b"]", b",", b"=",
         b"host,", b"PAR1", "\u2028".encode(), b"\xed\xa0\x80"]
JSON_VALUES = [None, True, -1, 2**70, 1.5e308, "", "\ud800", "x\ny", [], {}, [[[]]], {"a": {}},
               "0x" + "f" * 40, "0xzz", ["0x0"] * 6, [["0x0"] * 6], {"leaves": []}]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits of ``data``."""
    for _ in range(rng.randint(1, 4)):
        data = rng.choice(_MUTATORS)(bytearray(data), rng)
    return bytes(data)


def _flip(data: bytearray, rng: random.Random) -> bytes:
    if data:
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _cut(data: bytearray, rng: random.Random) -> bytes:
    if not data:
        return b""
    start = rng.randrange(len(data))
    return bytes(data[:start] + data[start + rng.randint(1, 200):])


def _repeat(data: bytearray, rng: random.Random) -> bytes:
    if not data:
        return b""
    start = rng.randrange(len(data))
    piece = bytes(data[start:start + rng.randint(1, 300)])
    return bytes(data[:start]) + piece * rng.choice([2, 3, 50, 400]) + bytes(data[start:])


def _insert(data: bytearray, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return bytes(data[:at]) + rng.choice(NASTY) + bytes(data[at:])


def _truncate(data: bytearray, rng: random.Random) -> bytes:
    return bytes(data[:rng.randrange(len(data) + 1)])


def _number(data: bytearray, rng: random.Random) -> bytes:
    """A hex or decimal number replaced by another (0, huge, a different width)."""
    text = bytes(data)
    digits = [i for i, b in enumerate(text) if chr(b) in "0123456789abcdefABCDEF"]
    if not digits:
        return text
    at = rng.choice(digits)
    return text[:at] + rng.choice([b"0", b"F" * 9, b"1" * 30, b"8", b"D", b"00000000"]) + text[at + 1:]


def _lines(data: bytearray, rng: random.Random) -> bytes:
    lines = bytes(data).split(b"\n")
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        if rng.random() < 0.3:
            del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def _json(data: bytearray, rng: random.Random) -> bytes:
    """A random value of a JSON document replaced by a value of another type."""
    try:
        document = json.loads(bytes(data))
    except (ValueError, RecursionError):
        return _insert(data, rng)
    slots = []

    def collect(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            slots.append((node, key))
            collect(value)
    deep = "\u0000deep"
    try:
        collect(document)
        if not slots:
            return bytes(data)
        node, key = rng.choice(slots)
        node[key] = rng.choice(JSON_VALUES) if rng.random() < 0.9 else deep
        text = json.dumps(document)
    except (ValueError, RecursionError):
        return bytes(data)
    return text.replace(json.dumps(deep), "[" * 5000 + "]" * 5000).encode("utf-8", "surrogatepass")


_MUTATORS = (_flip, _cut, _repeat, _insert, _truncate, _number, _lines, _json, _json)


# --- running commands --------------------------------------------------------------------

def commands(path: str, folder: str, rng: random.Random) -> list[list[str]]:
    """The command lines one mutated input goes through (all of them in a long run)."""
    fixture = str(FIXTURE)
    every = [
        ["decode", path], ["decode", path, "--json", "--per-cpu"], ["baseline", path, fixture, "--json"],
        ["compare", fixture, path], ["compare", path, fixture, "--json"], ["evc", "check", path],
        ["fleet", folder, "--json"], ["fleet", path], ["decode", path, "--names", "qemu"],
        *(["mask", path, "--target", fixture, "-f", fmt] for fmt in MASK_FORMATS),
        *(["mask", fixture, "--target", path, "-f", fmt] for fmt in MASK_FORMATS),
        ["mask", path, "--evc", "amd-zen", "-f", "vmx"], ["mask", path, "--qemu-model", "x86-64-v2"],
    ]
    if LONG:
        return every
    return [every[1], rng.choice(every[2:])]


def check(args: list[str]) -> None:
    start = time.perf_counter()
    result = runner.invoke(app, args)
    took = time.perf_counter() - start
    where = f"{args}: exit {result.exit_code}\n{result.stderr[-2000:]}"
    if not isinstance(result.exception, (SystemExit, type(None))):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"{args} raised {result.exception!r}\n{trace}")
    assert result.exit_code in ((0, 1, 2) if args[0] == "compare" else (0, 2)), where
    assert "Traceback" not in result.stderr, where
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and result.stderr.rstrip("\n").splitlines()[-1] == errors[0], where
    assert took < SLOW, f"{args} took {took:.1f} s"


@cache
def _warm() -> None:
    """Import what the commands import (pandas, pyarrow, the data tables) before timing any."""
    for args in (["fleet", str(FIXTURE), "--json"], ["mask", str(FIXTURE), "--target", str(FIXTURE)],
                 ["evc", "check", str(FIXTURE)]):
        runner.invoke(app, args)
    _tables()


def _seed_bytes(name: str) -> bytes | None:
    _warm()
    return seeds().get(name) or _tables().get(name)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_mutated_inputs_never_crash_hang_or_print_two_errors(name, tmp_path):
    data = _seed_bytes(name)
    if data is None:
        pytest.skip(f"no {name} seed (pyarrow not installed)")
    rng = random.Random(f"cpucompat-fuzz-{name}")
    folder = tmp_path / "fleet"
    folder.mkdir()
    (folder / "good.txt").write_bytes(FIXTURE.read_bytes())
    for example in range(PER_SEED):
        mutated = mutate(data, rng)
        suffix = ".parquet" if name == "table-parquet" else ".csv" if name == "table-csv" else ".txt"
        path = folder / f"input-{example}{suffix}"
        path.write_bytes(mutated)
        for args in commands(str(path), str(folder), rng):
            check(args)
        path.unlink()


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_seed_runs_through_every_command(name, tmp_path):
    """The unmutated seeds: what the fuzz run starts from works (exit 0/1, or a clean 2)."""
    data = _seed_bytes(name)
    if data is None:
        pytest.skip(f"no {name} seed (pyarrow not installed)")
    folder = tmp_path / "fleet"
    folder.mkdir()
    path = folder / ("input.parquet" if name == "table-parquet" else "input.csv" if name == "table-csv" else "input.txt")
    path.write_bytes(data)
    every = commands(str(path), str(folder), random.Random(0)) if LONG else [
        ["decode", str(path), "--json"], ["fleet", str(folder), "--json"],
        ["mask", str(path), "--target", str(FIXTURE), "-f", MASK_FORMATS[len(name) % len(MASK_FORMATS)]]]
    for args in every:
        check(args)
