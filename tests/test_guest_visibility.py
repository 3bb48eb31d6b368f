"""data/guest-visibility.csv: complete, well formed, and never calling host-only what KVM really offered."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import pytest

from cpucompat.knowledge.tables import data_file
from cpucompat.decode import decode_cpu
from cpucompat.errors import UnknownFeature
from cpucompat.knowledge.features import KVM_VISIBILITY, feature_table

from .conftest import reference


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with open(data_file("guest-visibility.csv"), newline="", encoding="utf-8") as handle:
        assert handle.readline().startswith("# "), "the file starts with a comment header"
        handle.seek(0)
        return list(csv.DictReader(line for line in handle if line.strip() and not line.startswith("#")))


def test_one_row_per_feature_both_ways(rows):
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names)), "a feature is listed twice"
    table = {f.name for f in feature_table().features}
    assert sorted(table - set(names)) == [], "features of data/features.csv without a row"
    assert sorted(set(names) - table) == [], "rows for features data/features.csv does not have"


def test_values_and_sources(rows):
    assert list(rows[0]) == ["name", "kvm", "esxi", "source"]
    for row in rows:
        assert row["kvm"] in KVM_VISIBILITY, row
        assert row["esxi"] in ("yes", "no"), row
        assert row["source"].strip(), row


@pytest.mark.parametrize("name, kvm", [
    ("x2apic", "emulated"), ("tsc_deadline_timer", "emulated"), ("arat", "emulated"), ("hypervisor", "emulated"),
    ("movbe", "passthrough"), ("rdpid", "passthrough"), ("avx512f", "passthrough"), ("invtsc", "passthrough"),
    ("vmx", "nested"), ("svm", "nested"), ("npt", "nested"),
    ("hwp", "never"), ("hwp_epp", "never"), ("epb", "never"), ("ida", "never"), ("est", "never"), ("tm", "never"),
    ("tm2", "never"), ("smx", "never"), ("acpi", "never"), ("pbe", "never"), ("cdp_l3", "never"),
    ("avic", "never"), ("sev", "never"), ("sme", "never"),
])
def test_anchor_rows(name, kvm):
    assert feature_table().by_name[name].kvm == kvm


def test_api():
    table = feature_table()
    assert {"x2apic", "tsc_deadline_timer", "arat", "hypervisor"} <= table.emulated()
    assert "movbe" not in table.emulated()
    assert {"vmx", "svm", "hwp", "est"} <= table.host_only()
    assert table.host_only().isdisjoint(table.emulated())
    assert table.guest_visible("avx2") and not table.guest_visible("smx")


def test_esxi_covers_vcenter_names():
    table = feature_table()
    assert table.by_name["avx2"].esxi and table.by_name["monitor"].esxi and table.by_name["vmx"].esxi
    assert not table.by_name["hwp"].esxi


def test_no_isa_feature_is_never_without_a_reason(rows):
    """Instructions are waved through only where KVM deliberately never offers them."""
    table = feature_table()
    never_isa = sorted(r["name"] for r in rows if r["kvm"] == "never" and table.by_name[r["name"]].kind == "isa")
    assert never_isa == ["gp_on_user_cpuid", "lwp", "pcommit", "pconfig"]


def _libvirt_model(name: str) -> set[str]:
    model = ET.parse(reference("libvirt", "cpu_map", f"x86_{name}.xml")).getroot().find("model")
    names = {f.get("name") for f in model.findall("feature")}
    for parent in model.findall("model"):
        names |= _libvirt_model(parent.get("name"))
    return names


def _offered_by_qemu_kvm(path) -> set[str]:
    """Canonical names of what QEMU/KVM offered as ``-cpu host`` on a real host (model + require - disable)."""
    cpu = ET.parse(path).getroot()
    names = _libvirt_model(cpu.find("model").text)
    names |= {f.get("name") for f in cpu.findall("feature") if f.get("policy") != "disable"}
    names -= {f.get("name") for f in cpu.findall("feature") if f.get("policy") == "disable"}
    table, found = feature_table(), set()
    for name in names:
        try:
            found.add(table.resolve(name).name)
        except UnknownFeature:  # libvirt's MSR features (vmx-*, mds-no ...): not CPUID bits
            pass
    return found


def test_nothing_qemu_kvm_offered_on_real_hosts_is_never():
    files = sorted(reference("libvirt", "cputestdata").glob("x86_64-cpuid-*-json.xml"))
    assert files
    table = feature_table()
    for path in files:
        offered = _offered_by_qemu_kvm(path)
        assert {"x2apic", "hypervisor"} <= offered, path.name
        never = sorted(n for n in offered if table.by_name[n].kvm == "never")
        assert never == [], f"{path.name}: QEMU/KVM offered {never}"


def test_nothing_this_machines_kvm_offers_is_never():
    from cpucompat.collect.kvm import supported_cpuid

    try:
        leaves = supported_cpuid()
    except OSError as error:
        pytest.skip(f"/dev/kvm not usable here: {error}")
    offered = decode_cpu(leaves).features
    table = feature_table()
    assert table.emulated() - {"no_smm_ctl_msr"} <= offered | {"arch_capabilities"}
    assert sorted(n for n in offered if table.by_name[n].kvm == "never") == []


def test_every_feature_vmware_names_is_esxi():
    assert sorted(f.name for f in feature_table().features if f.vmware and not f.esxi) == []
