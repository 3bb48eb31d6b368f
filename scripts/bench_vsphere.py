#!/usr/bin/env python3
"""Benchmark `vsphere collect` against a naive pyVmomi loop on vcsim (1,000 hosts, 10,000 VMs).

    .venv/bin/python scripts/bench_vsphere.py [--hosts 1000] [--vms-per-host 10] [--naive-sample 300]

Starts vcsim (scripts/build-vcsim.sh) on a free 127.0.0.1 port with standalone hosts and VMs,
then times (1) cpucompat's collection: one paged PropertyCollector retrieval over a
ContainerView plus building every host and VM record, and (2) the naive way: for each object,
each property read on its own (one PropertyCollector round trip per object and property).
The naive loop runs over a sample of the objects (it would take too long over all of them) and
is reported in objects per second, which is what the comparison needs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--vms-per-host", type=int, default=10)
    parser.add_argument("--naive-sample", type=int, default=300, help="objects the naive loop reads")
    args = parser.parse_args()

    from pyVmomi import vim, vmodl

    from cpucompat.vsphere.collect import PROPERTIES, retrieve
    from cpucompat.vsphere.records import records
    from tests.vsphere.conftest import Vcsim

    binary = subprocess.run([str(REPO / "scripts" / "build-vcsim.sh")], capture_output=True, text=True,
                            check=True).stdout.split()[-1]
    started = time.perf_counter()
    sim = Vcsim(Path(binary), "-cluster", "0", "-host", str(args.hosts), "-vm", str(args.vms_per_host), timeout=1800)
    print(f"vcsim: {args.hosts} hosts x {args.vms_per_host} VMs up in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    try:
        si = sim.si()
        started = time.perf_counter()
        inventory = retrieve(si)
        retrieved = time.perf_counter() - started
        hosts, vms = records(inventory)
        collected = time.perf_counter() - started
        objects = len(hosts) + len(vms)

        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem, vim.VirtualMachine], True)
        sample = list(view.view)
        hosts_first = [o for o in sample if isinstance(o, vim.HostSystem)][: args.naive_sample // 10]
        vms_first = [o for o in sample if isinstance(o, vim.VirtualMachine)][: args.naive_sample - len(hosts_first)]
        collector = content.propertyCollector
        started = time.perf_counter()
        for obj in hosts_first + vms_first:  # one round trip per object and property
            for path in PROPERTIES[obj._wsdlName]:
                collector.RetrieveContents([vmodl.query.PropertyCollector.FilterSpec(
                    objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=obj)],
                    propSet=[vmodl.query.PropertyCollector.PropertySpec(type=type(obj), pathSet=[path])])])
        naive = time.perf_counter() - started
        naive_rate = (len(hosts_first) + len(vms_first)) / naive
        rate = objects / collected
        print(f"objects: {len(hosts)} hosts + {len(vms)} VMs = {objects}")
        print(f"vsphere collect: {collected:.2f} s ({retrieved:.2f} s retrieval, {collected - retrieved:.2f} s records), "
              f"{rate:,.0f} objects/s")
        print(f"naive pyVmomi loop: {len(hosts_first) + len(vms_first)} objects in {naive:.2f} s, {naive_rate:,.0f} objects/s "
              f"(all {objects}: ~{objects / naive_rate:.0f} s)")
        print(f"speed-up: {rate / naive_rate:.1f}x")
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
