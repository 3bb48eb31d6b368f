"""advice: BIOS settings only where a finding explains the loss, microcode only for its vendor,
leave-out steps only when the rest, recomputed, reach the baseline."""

from __future__ import annotations

from dataclasses import replace

from cpucompat.advice import reach_next, repairs
from cpucompat.knowledge.remedies import remedies
from cpucompat.decode import decode
from cpucompat.formats.reader import read_dump
from cpucompat.knowledge import baselines
from cpucompat.knowledge.features import feature_table

from .conftest import TEST_DATA, reference

MILAN = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
NX_OFF = {"id": "nx-disabled", "status": "found", "evidence": "test", "explanation": "", "cpus": [0]}


def _milan(**changes):
    return replace(decode(read_dump(MILAN)), **changes)


def test_every_bios_remedy_names_a_finding_of_the_collector():
    from cpucompat.knowledge.tables import rows

    findings = {row["id"] for row in rows("bios-findings.csv")}
    for cause, remedy in remedies().items():
        assert remedy.source and remedy.action
        if remedy.features:  # matched by features: they must be known ones
            assert set(remedy.features.split()) <= set(feature_table().by_name), cause
        else:
            assert cause in findings, cause


def test_bios_setting_only_where_a_found_finding_explains_the_loss():
    host = _milan(name="host-17", findings=[NX_OFF])
    step, = repairs(host, ["nx"])
    assert step.text == "enable Execute Disable (XD / NX) in the BIOS on host-17: it alone removes nx"
    step, = repairs(host, ["nx", "avx512f"])
    assert step.text.endswith(": it removes nx") and step.features == ("nx",)
    assert repairs(_milan(findings=[{**NX_OFF, "status": "not-found"}]), ["nx"]) == []


def test_intel_microcode_advice_is_not_given_to_amd():
    assert repairs(_milan(findings=[]), ["spec_ctrl", "intel_stibp"]) == []
    intel = _milan(vendor="GenuineIntel", name="old-xeon", findings=[])
    step, = repairs(intel, ["spec_ctrl", "intel_stibp"])
    assert step.action == "microcode" and step.features == ("intel_stibp", "spec_ctrl")


def test_leave_out_only_the_minority_that_blocks_the_next_mode():
    dumps = reference("dumps", "instlatx64")
    hosts = [decode(read_dump(dumps / name)) for name in (
        "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt",
        "GenuineIntel00606A6_ICX_CPUID3.txt")]
    step, = reach_next("evc", hosts, baselines.get("intel-cascadelake"))
    assert step.hosts == (hosts[1].name,) and step.baseline == "intel-icelake"
    # two of three hosts below the next mode: leaving out the majority is no advice
    assert reach_next("evc", [hosts[1], hosts[1], hosts[0]], baselines.get("intel-cascadelake")) == []
