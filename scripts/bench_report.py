#!/usr/bin/env python3
"""Benchmark ``cpucompat report``: page size, build time and headless Chromium's render time.

For each size, ``fleet synth`` makes a fleet table (CSV) from real InstLatx64 dumps of two vendors
(Haswell-EP, Cascade Lake, Ice Lake, Milan; with the fleet synth BIOS masks: 0.5% NX off, ...).
Then:

- build: ``cpucompat report FILE -o PAGE`` end to end (fresh processes: interpreter, imports,
  ingest, the document, the page, the atomic write; wall and CPU seconds), and in one process the
  document and the page alone (``report_document`` + ``report_page``, the table already read; CPU
  seconds); medians;
- size: the page's bytes (the goal: under 5 MB at 10,000 hosts);
- render: Debian's ``chromium --headless`` loading the page and taking a screenshot, and loading it
  and dumping the DOM, each a whole browser run (start-up included; wall seconds, and the CPU
  seconds of all its processes); medians of ``--runs``, next to the same runs on an empty page,
  interleaved with them (what start-up alone costs). The goal: under 3 s.

Prints a markdown table. Usage: ``python scripts/bench_report.py [--sizes 10000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

INSTLATX64 = REPO.parent / "shared" / "reference" / "dumps" / "instlatx64"
DUMPS = ("GenuineIntel00306F2_HaswellEP_00_CPUID.txt", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt",
         "GenuineIntel00606A6_ICX_CPUID3.txt", "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt")
CPUCOMPAT = [sys.executable, "-m", "cpucompat"]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds of a whole child process and the CPU seconds it and its descendants used
    (what a shared, loaded machine changes least)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median(samples: list[tuple[float, float]]) -> str:
    """``wall s / CPU s``, each the median of the samples."""
    return f"{statistics.median(w for w, _ in samples):.2f} s / {statistics.median(c for _, c in samples):.2f} s"


def browser_runs(browser: str, pages: list[Path], folder: Path, runs: int) -> list[tuple[str, str]]:
    """Per page, a screenshot run and a --dump-dom run (each a fresh browser), the pages interleaved
    run by run so that a change in the machine's load hits them alike."""
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
              f"--user-data-dir={folder / 'profile'}", "--window-size=1400,2400"]
    shots: list[list[tuple[float, float]]] = [[] for _ in pages]
    dumps: list[list[tuple[float, float]]] = [[] for _ in pages]
    for _ in range(runs):
        for i, page in enumerate(pages):
            shots[i].append(timed([*common, f"--screenshot={folder / 'shot.png'}", page.as_uri()]))
            dumps[i].append(timed([*common, "--dump-dom", page.as_uri()]))
    return [(median(s), median(d)) for s, d in zip(shots, dumps)]


def in_process(table: Path, runs: int) -> float:
    """Median seconds of report_document + report_page over a table already read."""
    from cpucompat.cluster import Policy
    from cpucompat.fleet.tables import read_table
    from cpucompat.views.report import report_document
    from cpucompat.views.report_page import report_page

    fleet = read_table(str(table))
    times = []
    for _ in range(runs):
        start = time.process_time()
        with contextlib.redirect_stderr(io.StringIO()):  # the guest-OS floor warnings
            report_page(report_document(fleet, Policy()))
        times.append(time.process_time() - start)
    return statistics.median(times)


def one_size(hosts: int, folder: Path, browser: str, runs: int) -> str:
    table, page = folder / f"fleet-{hosts}.csv", folder / f"report-{hosts}.html"
    synth = [*CPUCOMPAT, "fleet", "synth", "--hosts", str(hosts), "-o", str(table), "--seed", "7"]
    for name in DUMPS:
        synth += ["--from", str(INSTLATX64 / name)]
    subprocess.run(synth, check=True, capture_output=True, cwd=REPO)
    report = [*CPUCOMPAT, "report", str(table), "-o", str(page), "--force"]
    end_to_end = median([timed(report) for _ in range(3)])
    alone = in_process(table, 3)
    blank = folder / "empty.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>\n")
    (shot, dump), (empty_shot, empty_dump) = browser_runs(browser, [page, blank], folder, runs)
    return (f"| {hosts:,} | {page.stat().st_size / 1e6:.2f} MB | {end_to_end} | {alone:.2f} s | {shot} "
            f"({empty_shot}) | {dump} ({empty_dump}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated host counts")
    parser.add_argument("--runs", type=int, default=5, help="browser runs per measurement")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None or not INSTLATX64.exists():
        sys.exit("needs Debian's chromium and ../shared/reference/dumps/instlatx64")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        print("| hosts | page | `report` end to end, wall / CPU | document + page, CPU | Chromium screenshot, "
              "wall / CPU (empty page) | Chromium --dump-dom, wall / CPU (empty page) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for hosts in (int(s) for s in args.sizes.split(",")):
            print(one_size(hosts, Path(tmp), browser, args.runs), flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
