#!/usr/bin/env python3
"""Benchmark ``cpucompat fleet`` against libvirt's own baseline, at 10k, 100k and 1M hosts.

For each size: ``cpucompat fleet synth`` makes a Parquet fleet from real AMD EPYC dumps (our
fixture plus the InstLatx64 Zen/Rome/Milan/Genoa/Turin dumps when present; one vendor, so the
baseline exists). Then, each in a fresh process:

- ours: read the Parquet table and compute classes, baseline and coverage (imports untimed):
  the first run in a fresh process (median of 3 processes) and the best warm run; peak RSS
  of those processes (``ru_maxrss``); and ``cpucompat fleet FILE --json`` end to end (wall
  clock of the whole command: interpreter start, imports, JSON of every class and feature);
- libvirt: ``libvirt.open('test:///default').baselineCPU(xml)`` over the same hosts, run by
  ``/usr/bin/python3`` (Debian's python3-libvirt, 9.0). Each host is a host-type ``<cpu>``: the
  richest libvirt 9.0 model whose features the host has all of, plus the host's other
  features libvirt 9.0 knows (host ``<cpu>`` elements cannot disable features). Only the
  ``baselineCPU`` call is timed, not building the strings.

Then fingerprint ingest: 5,000 two-CPU fingerprint files from the fixture (16 BIOS-mask
configurations, as in a real fleet), timed through ``fleet_ingest.ingest`` in a fresh
process (imports untimed) and end to end through ``cpucompat fleet DIR --json``.

Prints a markdown table. Usage: ``python scripts/bench_fleet.py [--sizes 10000,100000,1000000]
[--libvirt-max N]`` (sizes above N are extrapolated from the largest measured libvirt rate).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np

from cpucompat.fleet import analysis as F, bits
from cpucompat.knowledge.features import feature_table
from cpucompat.fleet.tables import read_table
from cpucompat.fleet.synth import write_fingerprints
from cpucompat.formats.reader import read_dump

FIXTURE = REPO / "tests" / "data" / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
INSTLATX64 = REPO.parent / "shared" / "reference" / "dumps" / "instlatx64"
EPYC = ("AuthenticAMD0800F12_K17_Zen_CPUID.txt", "AuthenticAMD0830F10_K17_Rome_CPUID2.txt",
        "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt", "AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt",
        "AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt")
CPU_MAP = Path("/usr/share/libvirt/cpu_map")
SYSTEM_PYTHON = "/usr/bin/python3"

OURS = """
import resource, sys, time
from cpucompat.fleet import analysis as F, tables as fleet_io
import pandas, pyarrow.parquet
times = []
for _ in range(3):
    start = time.perf_counter()
    report = F.analyse(fleet_io.read_table(sys.argv[1]))
    times.append(time.perf_counter() - start)
print(times[0], min(times[1:]), len(report.groups.counts), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

LIBVIRT = """
import json, sys, time
from array import array
import libvirt
xmls = json.load(open(sys.argv[1]))
order = array("I")
with open(sys.argv[2], "rb") as handle:
    order.frombytes(handle.read())
cpus = [xmls[i] for i in order]
connection = libvirt.open("test:///default")
start = time.perf_counter()
result = connection.baselineCPU(cpus, libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
print(json.dumps({"seconds": time.perf_counter() - start, "xml": result}))
"""

INGEST = """
import sys, time
from cpucompat import fleet
from cpucompat.fleet.ingest import ingest
import pandas
start = time.perf_counter()
hosts = len(ingest([sys.argv[1]]).fleet)
print(hosts, time.perf_counter() - start)
"""


def _sources() -> list[str]:
    found = [INSTLATX64 / name for name in EPYC if (INSTLATX64 / name).exists()]
    return [str(FIXTURE), *map(str, found)]


def _python(code: str, *args: str, python: str = sys.executable) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=True, env=env).stdout


# --- libvirt host XML -------------------------------------------------------------------

def _libvirt_map() -> tuple[set[str], dict[str, tuple[str | None, frozenset[str]]]]:
    """Feature names libvirt 9.0 knows, and its models: name -> (vendor, features)."""
    known = set(re.findall(r"<feature name='([^']+)'", (CPU_MAP / "x86_features.xml").read_text()))
    models = {}
    for path in CPU_MAP.glob("x86_*.xml"):
        text = path.read_text()
        for name, body in re.findall(r"<model name='([^']+)'>(.*?)</model>", text, re.S):
            vendor = re.search(r"<vendor name='([^']+)'/>", body)
            models[name] = (vendor and vendor.group(1), frozenset(re.findall(r"<feature name='([^']+)'/>", body)))
    return known, models


def _host_xml(features: frozenset[str], known: set[str], models: dict) -> str:
    table = feature_table()
    names = {table.by_name[n].libvirt for n in features} & known
    fitting = [(len(f), m) for m, (vendor, f) in models.items() if vendor in (None, "AMD") and f <= names]
    model = max(fitting)[1]
    extra = "".join(f"<feature name='{n}'/>" for n in sorted(names - models[model][1]))
    return f"<cpu><arch>x86_64</arch><model>{model}</model><vendor>AMD</vendor>{extra}</cpu>"


def _libvirt(fleet_path: str, work: Path) -> tuple[float, set[str], set[str]]:
    """libvirt's seconds, its baseline features, and ours (raw intersection) in libvirt names."""
    fleet = read_table(fleet_path)
    groups = F.classes(fleet.bits)
    known, models = _libvirt_map()
    xmls = [_host_xml(bits.unpack(row), known, models) for row in groups.rows]
    (work / "xmls.json").write_text(json.dumps(xmls))
    array("I", groups.of_host.astype("uint32").tobytes()).tofile(open(work / "order.bin", "wb"))
    answer = json.loads(_python(LIBVIRT, str(work / "xmls.json"), str(work / "order.bin"), python=SYSTEM_PYTHON))
    theirs = set(re.findall(r"name='([^']+)'", answer["xml"])) & known
    common = bits.unpack(np.bitwise_and.reduce(groups.rows, axis=0))
    ours = {feature_table().by_name[n].libvirt for n in common} & known
    return answer["seconds"], theirs, ours


# --- the runs ---------------------------------------------------------------------------

def _synth(size: int, work: Path) -> tuple[str, float]:
    path = work / f"fleet-{size}.parquet"
    args = [sys.executable, "-m", "cpucompat", "fleet", "synth", "--hosts", str(size), "-o", str(path), "--seed", "1", "--force"]
    start = time.perf_counter()
    subprocess.run([*args, *(a for s in _sources() for a in ("--from", s))], check=True, cwd=REPO)
    return str(path), time.perf_counter() - start


def _ours(path: str) -> tuple[float, float, int, int, float]:
    """Median first run and best warm run over 3 fresh processes, classes, peak RSS (KiB), CLI wall."""
    runs = [_python(OURS, path).split() for _ in range(3)]
    cold = sorted(float(r[0]) for r in runs)[1]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cpucompat", "fleet", path, "--json"], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    cli = time.perf_counter() - start
    return cold, min(float(r[1]) for r in runs), int(runs[0][2]), max(int(r[3]) for r in runs), cli


def _ingest(work: Path, files: int) -> tuple[float, float]:
    folder = work / "fingerprints"
    folder.mkdir(exist_ok=True)
    write_fingerprints(read_dump(FIXTURE), str(folder), files, configs=16, seed=1)
    hosts, seconds = _python(INGEST, str(folder)).split()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cpucompat", "fleet", str(folder), "--json"], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return int(hosts) / float(seconds), files / (time.perf_counter() - start)


def _measure(sizes: list[int], libvirt_max: int, work: Path) -> list[tuple]:
    rows, rate = [], None
    for size in sizes:
        path, synth_seconds = _synth(size, work)
        cold, warm, classes, rss_kb, cli = _ours(path)
        if size <= libvirt_max:
            theirs, libvirt_set, our_set = _libvirt(path, work)
            rate, note = size / theirs, ""
            agree = "same" if libvirt_set == our_set else f"differ: {sorted(libvirt_set ^ our_set)}"
        elif rate:
            theirs, note, agree = size / rate, " (extrapolated)", "-"
        else:
            theirs, note, agree = float("nan"), " (not run)", "-"
        rows.append((size, classes, cold, warm, cli, theirs, note, rss_kb / 1024, synth_seconds, agree))
        print(f"done {size}", file=sys.stderr)
    return rows


def _print(rows: list[tuple], files: int, ingest_rate: float, cli_rate: float) -> None:
    print(f"Sources: {len(_sources())} AMD dumps; {os.cpu_count()} CPUs; libvirt 9.0 test driver, "
          "host <cpu> = closest model + features.\n")
    print("| hosts | classes | ours: Parquet → classes + baseline + coverage (first / warm) | `fleet FILE --json` | "
          "libvirt baselineCPU | ratio (libvirt / ours first) | peak RSS | synth |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, classes, cold, warm, cli, theirs, note, rss, synth, _ in rows:
        print(f"| {size:,} | {classes} | {cold:.3f} s / {warm:.3f} s | {cli:.2f} s | {theirs:.2f} s{note} | "
              f"{theirs / cold:.0f}x | {rss:.0f} MB | {synth:.1f} s |")
    print(f"\nIngest of {files:,} fingerprint files: {ingest_rate:,.0f} files/s (ingest only), "
          f"{cli_rate:,.0f} files/s (`cpucompat fleet DIR --json` end to end, with interpreter start and imports).")
    print("Raw intersection, in libvirt 9.0 names, ours vs libvirt's expanded baseline: "
          + "; ".join(f"{size:,}: {agree}" for size, *_, agree in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--libvirt-max", type=int, default=1_000_000, help="extrapolate libvirt above this size")
    parser.add_argument("--ingest-files", type=int, default=5000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as temp:
        rows = _measure([int(s) for s in options.sizes.split(",")], options.libvirt_max, Path(temp))
        ingest_rate, cli_rate = _ingest(Path(temp), options.ingest_files)
    _print(rows, options.ingest_files, ingest_rate, cli_rate)


if __name__ == "__main__":
    main()
