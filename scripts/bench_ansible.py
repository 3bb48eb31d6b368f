#!/usr/bin/env python3
"""Fingerprinting N hosts with the cpucompat.cpu.fingerprint playbook against a bare
``ansible all -m ping`` over the same inventory and forks, interleaved in one run.

The inventory is N local-connection hosts (aliases of this machine; no network), the managed
Python Debian's /usr/bin/python3. The collection is built with ``ansible-galaxy collection build``
and installed into a temporary folder. Per size: the median wall time of each command over
--runs runs, the playbook's extra time per host over the ping's ((playbook - ping) / N) against
the ping's own per-host time (ping / N), hosts per second of the playbook, the same ratio in CPU
time (user + system of every process the command started: less sensitive to other load on a
shared machine) and the load average before and after.

    .venv/bin/python scripts/bench_ansible.py [--hosts 20 100] [--forks 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict, expect_ok: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the command and everything it started)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if expect_ok and done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default="/usr/bin/python3", help="the managed hosts' Python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpucompat-bench-ansible-") as folder:
        work = Path(folder)
        subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO / "integrations/ansible"),
                        "--output-path", folder], check=True, capture_output=True)
        tarball = next(work.glob("cpucompat-cpu-*.tar.gz"))
        subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(work / "collections"),
                        str(tarball)], check=True, capture_output=True)
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}",
                   ANSIBLE_COLLECTIONS_PATH=str(work / "collections"), ANSIBLE_FORKS=str(args.forks),
                   ANSIBLE_LOCAL_TEMP=str(work / "local-tmp"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_PIPELINING="True")
        print(f"forks {args.forks}, {args.runs} interleaved runs each, managed Python {args.python}, "
              f"{os.cpu_count()} CPUs")
        print("| hosts | `ansible all -m ping` s | playbook s | fingerprint play s | ping s/host | "
              "extra s/host (playbook - ping) | ratio | playbook hosts/s | CPU ratio | load before, after |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for hosts in args.hosts:
            inventory = work / f"inventory-{hosts}.ini"
            inventory.write_text("[bench]\n" + "".join(f"h{n:04d}\n" for n in range(hosts)) +
                                 f"[bench:vars]\nansible_connection=local\nansible_python_interpreter={args.python}\n")
            ping = [str(BIN / "ansible"), "-i", str(inventory), "all", "-m", "ansible.builtin.ping"]
            dest = work / f"fingerprints-{hosts}"
            book = [str(BIN / "ansible-playbook"), "-i", str(inventory), "cpucompat.cpu.fingerprint",
                    "-e", f"cpucompat_dest={dest}"]
            only_play = book + ["-e", "cpucompat_hosts=bench", "--limit", "bench"]
            timed(book, env)  # warm: page cache; the first run writes every fingerprint
            pings, books, plays, loads = [], [], [], load()
            for _ in range(args.runs):
                pings.append(timed(ping, env))
                books.append(timed(book, env))
                plays.append(timed(only_play, env))
            (p, p_cpu), (b, b_cpu) = (median(pings), median(books))
            f, _ = median(plays)
            extra = (b - p) / hosts
            print(f"| {hosts} | {p:.2f} | {b:.2f} | {f:.2f} | {p / hosts:.3f} | {extra:.3f} | "
                  f"{extra / (p / hosts):.2f}x | {hosts / b:.1f} | {(b_cpu - p_cpu) / p_cpu:.2f}x | {loads}, {load()} |")


if __name__ == "__main__":
    main()
