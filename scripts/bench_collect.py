#!/usr/bin/env python3
"""Benchmark ``cpucompat collect`` against Debian ``cpuid -r`` and py-cpuinfo.

Whole processes, run side by side in interleaved repetitions (so drift hits all alike):
``cpucompat collect -o /dev/null`` for all CPUs and for ``--cpus 0``, ``cpuid -r``,
``cpuid -1 -r`` and py-cpuinfo's ``get_cpu_info()`` in a subprocess. Prints a markdown table
(median and min), the speed-up over py-cpuinfo (target >= 10x), the per-CPU cost of collect
(all CPUs minus one, divided by n-1) against cpuid's (target within 2x), and the in-process
collection time per CPU.

Python processes get a bytecode cache (PYTHONPYCACHEPREFIX in a temporary folder, and
PYTHONDONTWRITEBYTECODE unset), as an installed package has its .pyc files; ``--as-is``
keeps the caller's environment (with PYTHONDONTWRITEBYTECODE=1 every run compiles cpucompat).

Usage: scripts/bench_collect.py [--runs 20] [--cpuinfo-runs N] [--no-cpuinfo] [--as-is]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
ENV = dict(os.environ)


def commands(with_cpuinfo: bool) -> dict[str, list[str]]:
    """Label -> argv of every process measured."""
    found = {
        "cpucompat collect -o /dev/null": [PYTHON, "-m", "cpucompat", "collect", "-o", "/dev/null"],
        "cpucompat collect -o /dev/null --cpus 0": [PYTHON, "-m", "cpucompat", "collect", "-o", "/dev/null",
                                                    "--cpus", "0"],
    }
    cpuid = shutil.which("cpuid") or "/usr/bin/cpuid"
    if os.path.exists(cpuid):
        found["cpuid -r"] = [cpuid, "-r"]
        found["cpuid -1 -r"] = [cpuid, "-1", "-r"]
    if with_cpuinfo:
        found["py-cpuinfo get_cpu_info()"] = [PYTHON, "-c", "import cpuinfo; cpuinfo.get_cpu_info()"]
    return found


def time_process(argv: list[str]) -> float:
    """Wall time of one run in milliseconds (output discarded); raises if it fails."""
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def measure(argvs: dict[str, list[str]], runs: int, slow_runs: dict[str, int]) -> dict[str, list[float]]:
    """Interleaved repetitions after one warm-up run each."""
    for argv in argvs.values():
        time_process(argv)
    times: dict[str, list[float]] = {label: [] for label in argvs}
    for rep in range(runs):
        for label, argv in argvs.items():
            if rep < slow_runs.get(label, runs):
                times[label].append(time_process(argv))
    return times


def in_process(repeats: int = 30) -> tuple[list[tuple[str, float]], int]:
    """Median in-process ``collect()`` time for all CPUs and for each CPU alone."""
    sys.path.insert(0, str(REPO))
    from cpucompat.collect.collector import collect

    start = time.perf_counter()
    online = [c.index for c in collect().cpus]
    cold = (time.perf_counter() - start) * 1000

    def median_ms(cpus):
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            collect(cpus)
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    rows = [("all CPUs", median_ms(None))] + [(f"CPU {cpu}", median_ms([cpu])) for cpu in online]
    rows.append(("all CPUs, first call in the process (cold)", cold))
    return rows, len(online)


def report(times: dict[str, list[float]], rows: list[tuple[str, float]], n: int) -> None:
    cache = "bytecode cache" if "PYTHONPYCACHEPREFIX" in ENV else "environment as is"
    print(f"Host: {n} CPUs collected; Python {sys.version.split()[0]}; {cache}\n")
    print("| command | median ms | min ms | runs |")
    print("|---|---:|---:|---:|")
    medians = {}
    for label, samples in times.items():
        medians[label] = statistics.median(samples)
        print(f"| `{label}` | {medians[label]:.1f} | {min(samples):.1f} | {len(samples)} |")
    collect_all = medians["cpucompat collect -o /dev/null"]
    collect_one = medians["cpucompat collect -o /dev/null --cpus 0"]
    print()
    if "py-cpuinfo get_cpu_info()" in medians:
        speedup = medians["py-cpuinfo get_cpu_info()"] / collect_all
        print(f"- speed-up vs py-cpuinfo: {speedup:.1f}x (target >= 10x)")
    if n > 1:
        ours = (collect_all - collect_one) / (n - 1)
        print(f"- collect per-CPU cost: {ours:.2f} ms (all minus --cpus 0, / {n - 1})")
        if "cpuid -r" in medians:
            theirs = (medians["cpuid -r"] - medians["cpuid -1 -r"]) / (n - 1)
            ratio = ours / theirs if theirs > 0 else float("inf")
            print(f"- cpuid -r per-CPU cost: {theirs:.2f} ms; ratio {ratio:.2f} (target <= 2)")
    print(f"- whole-process collect: {collect_all:.1f} ms median (budget 150 ms)")
    print("\nIn-process `collect()` (median of 30 warm calls; the cold first call last):\n")
    print("| CPUs | ms |")
    print("|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.2f} |")
    if n > 1:
        print(f"\n- in-process per-CPU cost: {(rows[0][1] - rows[1][1]) / (n - 1):.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cpuinfo-runs", type=int, default=None, help="fewer runs for slow py-cpuinfo")
    parser.add_argument("--no-cpuinfo", action="store_true", help="leave py-cpuinfo out")
    parser.add_argument("--as-is", action="store_true", help="no bytecode cache for the Python runs")
    args = parser.parse_args()
    if not args.as_is:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="cpucompat-bench-pyc-")
    try:
        argvs = commands(not args.no_cpuinfo)
        slow = {"py-cpuinfo get_cpu_info()": args.cpuinfo_runs or args.runs}
        times = measure(argvs, args.runs, slow)
        rows, n = in_process()
        report(times, rows, n)
    finally:
        if "PYTHONPYCACHEPREFIX" in ENV and not args.as_is:
            shutil.rmtree(ENV["PYTHONPYCACHEPREFIX"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
