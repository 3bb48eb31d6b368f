"""EVC modes against vCenter's own data: its intel-merom featureMask, a real vCenter's VMs at
intel-broadwell (runtime.featureRequirement) and its Broadwell host (config.featureCapability at
summary.maxEVCModeKey), read from ../shared/reference/vsphere at run time."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from cpucompat.knowledge import baselines
from cpucompat.cli import app
from cpucompat.cpuid_fields import xsave_components
from cpucompat.cluster import esxi_view
from cpucompat.evc import mode_scalars
from cpucompat.knowledge.vmware import vmware_key, vmware_keys
from cpucompat.knowledge.features import feature_table
from cpucompat.formats.reader import read_dump

from .conftest import reference

runner = CliRunner()
VENDOR = "GenuineIntel"
SOURCE = re.compile(r"^(capture|kb:[0-9]+|reasoning: .+)$")


def _always_exposed() -> frozenset[str]:
    return frozenset(vmware_keys()["always_exposed"])


def _named_in_masks(mode: baselines.Baseline) -> frozenset[str]:
    """The mode's features a vCenter mask must name: those with a VMware name, less the x86-64 base."""
    table = feature_table()
    return frozenset(f for f in mode.features if table.by_name[f].vmware) - _always_exposed()


def _prop(path, name: str) -> ET.Element:
    """The <val> of one top-level propSet (runtime, summary, config, ...) of a govc object.save file."""
    root = ET.parse(path).getroot()
    val, = (p.find("{*}val") for p in root if p.tag.endswith("propSet") and p.findtext("{*}name") == name)
    return val


def _pairs(parent: ET.Element, tag: str) -> dict[str, str]:
    """key -> value of the featureMask / featureCapability / featureRequirement items under parent."""
    return {item.findtext("{*}key"): item.findtext("{*}value") for item in parent.findall(f"{{*}}{tag}")}


def _sddc_vms() -> list[tuple[str, str, dict[str, str]]]:
    """(file, minRequiredEVCModeKey, runtime.featureRequirement) of each VM of the govc-sddc capture."""
    folder = reference("vsphere", "govc-sddc")
    vms = []
    for path in sorted(folder.glob("*-VirtualMachine-*.xml")):
        runtime = _prop(path, "runtime")
        vms.append((path.name, runtime.findtext("{*}minRequiredEVCModeKey"), _pairs(runtime, "featureRequirement")))
    assert len(vms) == 7 and all(requirement for _, _, requirement in vms)
    return vms


def _xsave_owner(component: int) -> str:
    return xsave_components()[component]["feature"]


# --- the intel-merom featureMask, exactly -----------------------------------------------------

def test_intel_merom_exposes_exactly_what_vcenters_mask_exposes():
    mask = json.loads(reference("vsphere", "evc-intel-merom-featuremask.json").read_text())["featureMask"]
    shown = json.loads(runner.invoke(app, ["evc", "show", "intel-merom", "--names", "canonical", "--json"]).stdout)
    features, mode = set(shown["features"]), baselines.get("intel-merom")
    named_by_mask = set()
    for key, value in mask.items():
        kind, meaning = vmware_key(key, VENDOR)
        assert kind in ("feature", "scalar", "vendor"), key
        if kind == "feature":
            assert (meaning in features) == (value == "Val:1"), key
            named_by_mask.add(meaning)
        elif kind == "scalar":
            assert shown["scalars"][meaning] == int(value.split(":")[1], 0), key
        else:
            assert meaning == shown["vendor"], key
    # every feature of ours that a mask could name is named by vCenter's, and no more
    assert _named_in_masks(mode) == named_by_mask
    assert {"monitor", "dts", "ss"} <= features
    # the featureMask we record for the mode is vCenter's, key for key
    assert {k: v for k, v, _ in mode.feature_mask} == mask
    assert all(source == "capture" for _, _, source in mode.feature_mask)


def test_every_recorded_feature_mask_matches_its_mode():
    """Every mode's featureMask names each feature of the mode that has a VMware name (the x86-64
    base aside), with Val:1, and names nothing the mode lacks."""
    for mode in baselines.load_baselines("evc"):
        in_mask = set()
        for key, value, source in mode.feature_mask:
            assert SOURCE.match(source), (mode.key, key)
            kind, meaning = vmware_key(key, mode.vendor)
            assert kind != "unknown", (mode.key, key)
            if kind == "feature":
                assert value == "Val:1" and meaning in mode.features, (mode.key, key)
                in_mask.add(meaning)
        assert in_mask == _named_in_masks(mode), mode.key


def test_each_mode_states_provenance_per_feature():
    for mode in baselines.load_baselines("evc"):
        assert set(mode.provenance) == mode.features, mode.key
        assert all(SOURCE.match(source) for source in mode.provenance.values()), mode.key
        parent = baselines.parent_of(mode)
        assert parent is None or parent.features <= mode.features, mode.key  # parent + additions
    captured = {m.key for m in baselines.load_baselines("evc") if not m.reconstructed}
    assert captured == {"intel-merom", "intel-westmere", "intel-sandybridge", "intel-broadwell"}


def test_captured_scalars():
    assert mode_scalars(baselines.get("intel-merom")) == {
        "family": (6, "capture"), "model": (0xF, "capture"), "stepping": (1, "capture"),
        "max_basic_leaf": (0xA, "capture"), "max_extended_leaf": (0x80000008, "capture")}
    assert mode_scalars(baselines.get("intel-sandybridge"))["model"] == (0x2D, "capture")
    assert mode_scalars(baselines.get("intel-skylake"))["family"][1].startswith("reasoning: ")


@pytest.mark.parametrize("key, vendor, meaning", [
    ("cpuid.SSE41", VENDOR, ("feature", "sse4_1")),
    ("cpuid.sse41", VENDOR, ("feature", "sse4_1")),
    ("cpuid.MWAIT", VENDOR, ("feature", "monitor")),
    ("cpuid.ds", VENDOR, ("feature", "dts")),
    ("cpuid.XSAVEOPT", VENDOR, ("feature", "xsaveopt")),
    ("cpuid.ibpb", VENDOR, ("feature", "spec_ctrl")),
    ("cpuid.IBPB", "AuthenticAMD", ("feature", "amd_ibpb")),
    ("cpuid.fcmd", VENDOR, ("feature", "flush_l1d")),
    ("cpuid.FAMILY", VENDOR, ("scalar", "family")),
    ("cpuid.num_ext_levels", VENDOR, ("scalar", "max_extended_leaf")),
    ("cpuid.Intel", VENDOR, ("vendor", "GenuineIntel")),
    ("cpuid.xcr0_master_ymm_h", VENDOR, ("xsave", 2)),
    ("hv.capable", VENDOR, ("other", "hv.capable")),
])
def test_vcenter_keys_in_any_case(key, vendor, meaning):
    assert vmware_key(key, vendor) == meaning


# --- a real vCenter: VMs at intel-broadwell, its Broadwell host ---------------------------------

def test_real_vms_requirements_lie_inside_their_min_required_mode():
    for name, mode_key, requirement in _sddc_vms():
        mode = baselines.get(mode_key)
        for key, value in requirement.items():
            if not key.startswith("cpuid.") or not value.endswith(":1"):
                continue
            kind, meaning = vmware_key(key, mode.vendor)
            assert kind in ("feature", "vendor", "xsave"), (name, key)
            if kind == "feature":
                assert meaning in mode.features, f"{name}: {key} ({meaning}) is not in {mode_key}"
            elif kind == "xsave":
                assert _xsave_owner(meaning) in mode.features, (name, key)
            else:
                assert meaning == mode.vendor, (name, key)


def test_xsaveopt_is_required_at_broadwell_by_real_vms():
    requirements = [req for _, mode, req in _sddc_vms() if mode == "intel-broadwell"]
    assert any(req.get("cpuid.xsaveopt") == "Bool:Min:1" for req in requirements)
    assert "xsaveopt" in baselines.get("intel-broadwell").features


def _sddc_host():
    path = next(reference("vsphere", "govc-sddc").glob("*-HostSystem-*.xml"))
    capability = _pairs(_prop(path, "config"), "featureCapability")
    assert len(capability) == 83
    return _prop(path, "summary").findtext("{*}maxEVCModeKey"), capability


def test_host_feature_capability_contains_its_max_evc_mode():
    mode_key, capability = _sddc_host()
    offered = set()
    for key, value in capability.items():
        kind, meaning = vmware_key(key, VENDOR)
        if kind == "feature" and value == "1":
            offered.add(meaning)
    mode = baselines.get(mode_key)
    assert _named_in_masks(mode) <= offered
    # and judged like vCenter, the host's capability (plus the x86-64 base it never lists) reaches
    # exactly that mode
    host = esxi_view(offered | _always_exposed())
    assert baselines.highest_satisfied(host, VENDOR, "evc") == mode


def test_every_cpuid_key_of_the_real_vcenter_is_mapped():
    _, capability = _sddc_host()
    keys = set(capability) | {k for _, _, req in _sddc_vms() for k in req}
    unmapped = {k.upper() for k in vmware_keys()["unmapped"]}
    for key in sorted(k for k in keys if k.startswith("cpuid.")):
        assert vmware_key(key, VENDOR)[0] != "unknown" or key.upper() in unmapped, key


# --- evc check: MWAIT disabled ----------------------------------------------------------------

def test_host_with_mwait_disabled_gets_no_intel_merom(tmp_path):
    dump = read_dump(reference("dumps", "instlatx64", "GenuineIntel00006F6_Merom_CPUID.txt"))
    for cpu in dump.cpus:  # BIOS "MONITOR/MWAIT: disabled" clears CPUID.1:ECX[3]
        eax, ebx, ecx, edx = cpu.get(1)
        cpu.leaves[(1, 0)] = (eax, ebx, ecx & ~(1 << 3), edx)
    from cpucompat.formats import fingerprint

    document = fingerprint.from_dump(dump)
    document["findings"] = [{"id": "monitor-disabled", "status": "found", "evidence": "test",
                             "explanation": "MONITOR/MWAIT disabled in the BIOS", "cpus": [0]}]
    path = tmp_path / "no-mwait.json"
    path.write_text(fingerprint.dumps(document))
    host, = json.loads(runner.invoke(app, ["evc", "check", "--json", str(path)]).stdout)["hosts"]
    assert host["max_evc_mode"] is None
    assert host["next_mode"] == "intel-merom" and host["next_mode_missing"] == ["monitor"]
    assert host["likely_causes"] == {"monitor-disabled": ["monitor"]}
    text = runner.invoke(app, ["evc", "check", str(path)]).stdout
    assert "likely cause: BIOS finding monitor-disabled hides monitor" in text


def test_show_text_names_scalars_and_evidence():
    text = runner.invoke(app, ["evc", "show", "intel-merom"]).stdout
    assert "presents: family 0x6, model 0xf, stepping 0x1, max_basic_leaf 0xa, max_extended_leaf 0x80000008\n" in text
    assert "capture 9" in text
    assert "[R]" in runner.invoke(app, ["evc", "show", "intel-skylake"]).stdout.splitlines()[2]


def test_baseline_and_fleet_name_evc_modes_as_vcenter_does(tmp_path):
    """baseline and fleet judge EVC modes on the ESXi view (MWAIT counts, though KVM hides it):
    a Haswell host with MWAIT disabled takes the cluster's EVC mode away, as evc check says."""
    from cpucompat.formats import fingerprint

    haswell = reference("dumps", "instlatx64", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt")
    dump = read_dump(haswell)
    for cpu in dump.cpus:
        eax, ebx, ecx, edx = cpu.get(1)
        cpu.leaves[(1, 0)] = (eax, ebx, ecx & ~(1 << 3), edx)
    no_mwait = tmp_path / "no-mwait.json"
    no_mwait.write_text(fingerprint.dumps(fingerprint.from_dump(dump)))
    alone = json.loads(runner.invoke(app, ["baseline", "--json", str(haswell)]).stdout)
    together = json.loads(runner.invoke(app, ["baseline", "--json", str(haswell), str(no_mwait)]).stdout)
    check = json.loads(runner.invoke(app, ["evc", "check", "--json", str(haswell), str(no_mwait)]).stdout)
    assert alone["evc_mode"] is not None
    assert together["evc_mode"] is None and check["cluster"]["max_evc_mode"] is None
    assert "monitor" not in together["features"]  # still no guest of KVM sees it
    assert together["qemu_model"] == alone["qemu_model"]  # QEMU models do not ask for MWAIT
    fleet = json.loads(runner.invoke(app, ["fleet", "--json", str(haswell), str(no_mwait)]).stdout)
    assert fleet["evc_mode"] is None
