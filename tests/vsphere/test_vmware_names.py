"""VMware's feature names (the ``vmware`` column of features.csv, baselines/evc.json ``vmware_keys``)
against a real vCenter's own keys: the VMC inventory of ../shared/reference/vsphere/govc-sddc
(host featureCapability, every VM's featureRequirement, featureMask and featMask extraConfig) and
vCenter 8.0.3's intel-merom EVC featureMask.

Both directions: every ``cpuid.<NAME>`` key vCenter wrote means something to cpucompat, in upper
and lower case; and for the leaves the host reports, every named feature the host has is in its
featureCapability and none it lacks is.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.knowledge.features import feature_table
from cpucompat.knowledge.vmware import feature_key_name, vmware_key, vmware_keys
from cpucompat.masks import plan_for_baseline, render
from tests.conftest import reference
from tests.masks.conftest import zen3_kvm

runner = CliRunner()
HOST = "10.2.32.4"
#: Named features this host has that vCenter does not list, and why (VMware's own CPUID table,
#: open-vm-tools lib/include/x86cpuid.h, says SMX is supported only from a future hardware version).
NOT_OFFERED = {"smx": "x86cpuid.h: SMX, monitor support YES from hardware version FUT"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("names") / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(out)])
    assert result.exit_code == 0, result.output
    host = json.loads((out / "hosts" / f"{HOST}.json").read_text())
    vms = [json.loads(p.read_text()) for p in sorted((out / "vms").glob("*.json"))]
    return host, vms


def vcenter_keys(records) -> set[str]:
    host, vms = records
    keys = set(host["feature_capability"])
    for vm in vms:
        keys |= set(vm["feature_requirement"]) | set(vm["feature_mask"])
        keys |= {k.removeprefix("featMask.vm.") for k in vm["featmask_extra_config"] if k.startswith("featMask.vm.")}
    merom = json.loads(reference("vsphere", "evc-intel-merom-featuremask.json").read_text())["featureMask"]
    return {k for k in keys | set(merom) if k.lower().startswith("cpuid.")}


def test_every_key_vcenter_wrote_maps_in_any_case(records):
    keys = vcenter_keys(records)
    assert len(keys) >= 60  # 53 distinct names, several in both cases (cpuid.PDPE1GB, cpuid.pdpe1gb)
    for key in sorted(keys):
        meaning = vmware_key(key, "GenuineIntel")
        assert meaning[0] in ("feature", "scalar", "vendor", "xsave"), key
        assert vmware_key(key.upper(), "GenuineIntel") == meaning == vmware_key(key.lower(), "GenuineIntel"), key


def test_named_features_of_the_host_are_exactly_its_capabilities(records):
    """Leaves 0, 1, 0x80000001 and 0x80000008 as the host reports them, against featureCapability."""
    host, _ = records
    listed = {k.upper() for k in host["feature_capability"]}
    always = set(vmware_keys()["always_exposed"])
    table = feature_table()
    checked = 0
    for leaf in host["cpu_feature"]:
        for reg in ("eax", "ebx", "ecx", "edx"):
            value = int(leaf[reg].replace(":", ""), 2)
            for feature in table.by_location.get((leaf["level"], 0, reg), ()):
                if not feature.vmware or feature.name in always or feature.name in NOT_OFFERED:
                    continue
                checked += 1
                has = bool(value >> feature.bit & 1)
                assert has == (f"CPUID.{feature.vmware.upper()}" in listed), (feature.name, feature.vmware, has)
    assert checked >= 40
    for name, why in NOT_OFFERED.items():  # the exceptions hold: present on the host, not listed
        feature = table.by_name[name]
        leaf = next(x for x in host["cpu_feature"] if x["level"] == feature.leaf)
        assert int(leaf[feature.reg].replace(":", ""), 2) >> feature.bit & 1, why
        assert f"CPUID.{feature.vmware.upper()}" not in listed, why


def test_every_name_round_trips_in_both_cases():
    table = feature_table()
    for feature in table.features:
        if not feature.vmware:
            continue
        for key in (f"cpuid.{feature.vmware.upper()}", f"cpuid.{feature.vmware.lower()}"):
            kind, name = vmware_key(key, "GenuineIntel" if feature.vendor != "amd" else "AuthenticAMD")
            specific = vmware_keys()["vendor_specific"]
            assert kind == "feature", key
            assert name == feature.name or feature.vmware.upper() in {k.upper() for v in specific.values() for k in v}, key


def test_featmask_of_a_real_vm_uses_only_vcenters_keys(records, tmp_path):
    """A real VM record masked to intel-merom: the default VMware form is featmask, every line a key
    vCenter's vocabulary knows."""
    vm_file = tmp_path / "vm.json"
    vm_file.write_text(json.dumps(records[1][-1]))
    result = runner.invoke(app, ["mask", str(vm_file), "--evc", "intel-merom"])  # no --format: a vSphere VM
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    assert lines and all(line.startswith("featMask.vm.cpuid.") for line in lines)
    for line in lines:
        key = "cpuid." + line.split(" = ")[0].removeprefix("featMask.vm.cpuid.")
        assert vmware_key(key, "GenuineIntel")[0] in ("feature", "xsave", "scalar"), line


def test_unnamed_hidden_features_are_said_never_keyed():
    zen3 = zen3_kvm()
    plan = plan_for_baseline(zen3, "qemu64-v1")
    text = render(plan, "featmask")
    unnamed = [n for n in plan.hidden if not feature_key_name(n, zen3.vendor)]
    assert "IBPB means amd_ibpb" in text  # AMD's IBPB bit, by vCenter's AMD meaning of cpuid.IBPB
    assert unnamed and "featMask cannot hide these" in text and "instead: move the VM only to hosts" in text
    for name in unnamed:
        assert f"#   {name}  CPUID." in text and f".{name.upper()} =" not in text


def test_featmask_hides_a_bit_under_every_name_vcenter_gives_it(records, tmp_path):
    """A real VM (NSX-Edge-0, Broadwell) masked for a Sandy Bridge host (no IBRS/IBPB microcode in
    that dump): every key of the VM's featureRequirement whose feature the mask hides is written
    as Val:0, so CPUID 7 EDX[26] is hidden as both IBRS and IBPB, the two names vCenter lists."""
    host, vms = records
    vm = next(v for v in vms if v["name"] == "NSX-Edge-0")
    vm_file = tmp_path / "vm.json"
    vm_file.write_text(json.dumps(vm))
    sandy = reference("dumps", "instlatx64", "GenuineIntel00206A7_SandyBridge_CPUID.txt")
    result = runner.invoke(app, ["mask", str(vm_file), "--target", str(sandy)])
    assert result.exit_code == 0, result.output
    written = {line.split(" = ")[0].removeprefix("featMask.vm.cpuid.").upper(): line.split(" = ")[1]
               for line in result.stdout.splitlines() if line.startswith("featMask.vm.cpuid.")}
    hidden = {line.split()[2].rstrip(":") for line in result.stdout.splitlines() if line.startswith("# hide ")}
    assert "spec_ctrl" in hidden
    for key in vm["feature_requirement"]:
        kind, meaning = vmware_key(key, "GenuineIntel")
        if kind == "feature" and meaning in hidden:
            assert written.get(key.upper().removeprefix("CPUID.")) == '"Val:0"', key
    assert written["IBRS"] == written["IBPB"] == '"Val:0"'
