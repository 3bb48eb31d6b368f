"""Only guest-visible features decide: host-only bits (HWP, EST, SMX, AVIC, SEV, VMX without
nesting) never block a move nor join a baseline, KVM-emulated bits (x2apic ...) never block, and
``--all-bits`` brings the raw view back. Checked over every same-vendor pair of real dumps."""

from __future__ import annotations

import dataclasses
import itertools
import json
from functools import cache

import pytest
from typer.testing import CliRunner

from cpucompat.fleet import analysis as fleet, model as M
from cpucompat.cli import app
from cpucompat.cluster import Policy, cluster_baseline
from cpucompat.compare import compare, source_from_baseline, source_from_host
from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import plan_for_hosts
from cpucompat.formats.reader import read_dump

from .conftest import reference

runner = CliRunner()
ALL_BITS = Policy(all_bits=True)
SPR, EMR = "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt", "GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt"
ROME, MILAN = "AuthenticAMD0830F10_K17_Rome_CPUID2.txt", "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"


def _instlatx64(name: str) -> str:
    return str(reference("dumps", "instlatx64", name))


@cache
def _hosts() -> tuple:
    """Every InstLatx64 dump and every raw libvirt cputestdata dump, decoded."""
    paths = sorted(reference("dumps", "instlatx64").glob("*.txt"))
    paths += sorted(p for p in reference("libvirt", "cputestdata").glob("x86_64-cpuid-*.xml")
                    if not p.name.endswith("-json.xml") and "-baseline-" not in p.name)
    return tuple(decode(read_dump(p)) for p in paths)


def _pairs():
    return [(a, b) for a, b in itertools.permutations(_hosts(), 2) if a.vendor == b.vendor]


def test_no_pair_of_real_dumps_is_incompatible_for_a_host_only_bit():
    table = feature_table()
    judged_aside = changed = 0
    for source, target in _pairs():
        verdict = compare(source_from_host(source), target)
        raw = compare(source_from_host(source, ALL_BITS), target, ALL_BITS)
        assert not set(verdict.missing) & (table.host_only() | table.emulated()), (source.name, target.name)
        assert set(verdict.host_only) <= table.host_only()
        # the default view is the raw view less host-only and emulated bits, never anything else
        assert set(raw.missing) == set(verdict.missing) | set(verdict.host_only) | set(verdict.emulated)
        assert not (raw.host_only or raw.emulated)
        judged_aside += bool(verdict.host_only or verdict.emulated)
        changed += verdict.compatible != raw.compatible
    assert len(_pairs()) > 1500
    assert judged_aside > 500 and changed > 100  # 149 verdicts turn compatible over these dumps


def test_sapphire_rapids_to_emerald_rapids_names_no_hwp():
    result = runner.invoke(app, ["compare", _instlatx64(SPR), _instlatx64(EMR), "--json"])
    target, = json.loads(result.stdout)["targets"]
    assert target["missing"] == []  # only its 52 -> 46 physical address bits remain
    assert list(target["lower"]) == ["phys_addr_bits"]
    assert {"hwp", "hwp_epp"} <= set(target["host_only"])
    result = runner.invoke(app, ["compare", _instlatx64(SPR), _instlatx64(EMR), "--all-bits", "--json"])
    target, = json.loads(result.stdout)["targets"]
    assert {"hwp", "hwp_epp"} <= {m["name"] for m in target["missing"]} and target["host_only"] == []


def test_zen2_to_zen3_is_compatible_and_all_bits_brings_avic_back():
    result = runner.invoke(app, ["compare", _instlatx64(ROME), _instlatx64(MILAN)])
    assert result.exit_code == 0, result.stdout
    assert "not judged:\n    host-only, no guest sees them  avic\n" in result.stdout
    assert "missing" not in result.stdout
    result = runner.invoke(app, ["compare", _instlatx64(ROME), _instlatx64(MILAN), "--all-bits", "--json"])
    assert result.exit_code == 1
    target, = json.loads(result.stdout)["targets"]
    assert [m["name"] for m in target["missing"]] == ["avic"]


def test_the_hypervisor_bit_is_never_missing():
    guest = decode(read_dump(reference("dumps", "local", "amd-epyc-fam26-model2-kvm_cpuid-r.txt")))
    assert "hypervisor" in guest.features
    for target in _hosts():
        if target.vendor == guest.vendor:
            verdict = compare(source_from_host(guest), target)
            assert "hypervisor" not in verdict.missing and "x2apic" not in verdict.missing


def test_baseline_never_lists_host_only_bits():
    intel = [h for h in _hosts() if h.vendor == "GenuineIntel"]
    for host in intel:
        result = cluster_baseline([host])
        assert not {"vmx", "smx", "est", "tm", "tm2", "hwp"} & result.features, host.name
        assert {"vmx", "est"} & host.features <= result.host_only
        assert {"vmx", "est"} & host.features <= cluster_baseline([host], ALL_BITS).features
    result = runner.invoke(app, ["baseline", _instlatx64(SPR), _instlatx64(EMR), "--json"])
    document = json.loads(result.stdout)
    assert not {"vmx", "smx", "est", "tm"} & set(document["features"])
    assert {"vmx", "est", "tm"} <= set(document["host_only"])
    assert document["evc_mode"] == "intel-sapphirerapids"
    result = runner.invoke(app, ["baseline", _instlatx64(SPR), _instlatx64(EMR), "--json", "--all-bits"])
    assert {"vmx", "est", "tm"} <= set(json.loads(result.stdout)["features"])


def test_qemu_model_does_not_ask_a_host_for_x2apic():
    host = decode(read_dump(_instlatx64("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")))
    without = dataclasses.replace(host, features=host.features - {"x2apic"})
    verdict = compare(source_from_baseline("Haswell-v1"), without)
    assert "x2apic" not in verdict.missing
    assert set(verdict.missing) <= {"hle", "rtm"}  # this Haswell-EP has TSX off by microcode


@pytest.mark.parametrize("policy", [Policy(), ALL_BITS], ids=["default", "all-bits"])
def test_fleet_bit_matrix_agrees_with_cluster(policy):
    for vendor in ("GenuineIntel", "AuthenticAMD"):
        hosts = [h for h in _hosts() if h.vendor == vendor]
        report = fleet.analyse(M.from_decoded(hosts), policy)
        expected = cluster_baseline(hosts, policy)
        assert report.baseline.features == expected.features
        assert report.baseline.host_only == expected.host_only
        assert {k: v and v.key for k, v in report.baseline.named.items()} == \
               {k: v and v.key for k, v in expected.named.items()}
        if not policy.all_bits:
            assert not set(report.coverage) & feature_table().host_only()


def test_hosts_differing_in_host_only_bits_alone_are_one_class():
    host = decode(read_dump(_instlatx64(SPR)))
    other = dataclasses.replace(host, features=host.features - {"hwp", "est"}, name="other")
    assert len(fleet.analyse(M.from_decoded([host, other])).groups.counts) == 1
    assert len(fleet.analyse(M.from_decoded([host, other]), ALL_BITS).groups.counts) == 2


def test_mask_hides_no_host_only_bit_unless_all_bits():
    vm, target = decode(read_dump(_instlatx64(SPR))), decode(read_dump(_instlatx64(EMR)))
    plan = plan_for_hosts(vm, [target])
    assert not set(plan.hidden) & feature_table().host_only()
    assert {"hwp", "hwp_epp"} <= set(plan.host_only)
    raw = plan_for_hosts(vm, [target], ALL_BITS)
    assert {"hwp", "hwp_epp"} <= set(raw.hidden) and raw.host_only == ()


def test_evc_check_accepts_all_bits():
    for flags in ([], ["--all-bits"]):
        result = runner.invoke(app, ["evc", "check", _instlatx64(MILAN), "--json", *flags])
        assert result.exit_code == 0
        assert json.loads(result.stdout)["hosts"][0]["max_evc_mode"] == "amd-zen3"
