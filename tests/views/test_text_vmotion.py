"""``vmotion check`` text, pinned, over the saved real VMC inventory (govc-sddc, read offline):
as saved (one host: nothing to move), and with a second host that lacks AVX2 and its kin (the
records ``vsphere collect`` writes, one host record edited), so every VM is blocked by its CPU."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import reference
from .snapshots import assert_snapshot, cli_text

#: What the older host lacks (vCenter featureCapability keys), as tests/vsphere/test_vmotion.py's
#: Sandy Bridge stand-in.
LACKING = ("cpuid.avx2", "cpuid.bmi1", "cpuid.bmi2", "cpuid.fma", "cpuid.movbe", "cpuid.adx", "cpuid.rdseed",
           "cpuid.smap")


def test_saved_inventory_one_host():
    text = cli_text("vmotion", "check", "--from-save", str(reference("vsphere", "govc-sddc")), expect=0)
    assert_snapshot("vmotion-govc-sddc", text)
    assert text.startswith("ok: no move to check: the 7 VMs already run on the 1 target host\n")


def test_cpu_blockers_grouped_with_their_fix(tmp_path: Path):
    records = tmp_path / "records"
    cli_text("vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(records), expect=0)
    host = json.loads((records / "hosts" / "10.2.32.4.json").read_text())
    capability = {k: v for k, v in host["feature_capability"].items() if k.lower() not in LACKING}
    capability.update({"cpuid.avx2": "0", "cpuid.fma": "0"})
    older = dict(host, name="sandy", moid="host-99", feature_capability=capability, max_evc_mode="intel-sandybridge")
    (records / "hosts" / "sandy.json").write_text(json.dumps(older))
    text = cli_text("vmotion", "check", "--records", str(records), expect=1)
    assert_snapshot("vmotion-cpu-blockers", text)
    lines = text.splitlines()
    assert lines[0] == "blocked: 7 of 7 moves; 7 of 7 VMs cannot move to every target host"
    assert lines[1].split() == ["VM", "10.2.32.4", "sandy"]
    assert "6 VMs -> sandy: cannot move" in lines and "vcenter -> sandy: cannot move" in lines
    assert any(line.startswith("  cpu: target lacks fma; the target offers EVC modes up to intel-sandybridge") for line in lines)
