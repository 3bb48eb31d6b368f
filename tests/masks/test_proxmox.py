"""Proxmox ``cpu-models.conf`` entries, read as section config and applied to raw CPUID.

Reader from proxmox/pve-docs ``cpu-models.conf.adoc`` and qemu-server ``CPUConfig.pm``: comment
lines start with ``#``; a section is a ``cpu-model: <name>`` header followed by ``key value``
lines indented by a tab or spaces; ``flags`` is ``+FLAG;-FLAG...`` with QEMU names (the ``qemu``
column of features.csv), ``-`` clears the bit; ``phys-bits`` sets CPUID.80000008h:EAX[7:0];
``reported-model`` is the QEMU model the guest starts from, so all its features must be on the
targets too.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.decode import Decoded
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import MaskOptions, plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import ZEN3_KVM, instlat, instlat_names, model_problems, named_format_problems, pair_failures

HEADER = re.compile(r"(\S+):\s*(\S+)\s*")
PROPERTY = re.compile(r"[ \t]+(\S+)[ \t]+(\S.*?)\s*")
FLAG = re.compile(r"([+-])([a-zA-Z0-9\-_.]+)")
#: Options of a custom model ($cpu_fmt in CPUConfig.pm, cputype being the section header).
OPTIONS = {"flags", "reported-model", "hidden", "hv-vendor-id", "phys-bits", "guest-phys-bits"}


def parse_sections(text: str) -> dict[str, dict[str, str]]:
    """PVE section config: {section id: {key: value}}, with the type checked to be cpu-model."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            current = None  # a blank line ends a section
            continue
        if line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            assert current is not None, f"option outside a section: {line!r}"
            match = PROPERTY.fullmatch(line)
            assert match, f"not a 'key value' line: {line!r}"
            key, value = match.groups()
            assert key in OPTIONS, f"{key} is not a cpu-models.conf option"
            assert key not in current, f"{key} given twice"
            current[key] = value
            continue
        match = HEADER.fullmatch(line)
        assert match and match.group(1) == "cpu-model", f"not a section header: {line!r}"
        assert re.fullmatch(r"[a-z][a-z0-9_-]+", match.group(2), re.IGNORECASE)
        current = sections.setdefault(match.group(2), {})
    return sections


def proxmox_edits(entry: dict[str, str]):
    qemu = feature_table().by_vocabulary["qemu"]
    zeros, ones = {}, {}
    for flag in entry.get("flags", "").split(";") if "flags" in entry else []:
        match = FLAG.fullmatch(flag)
        assert match, f"bad flag {flag!r}"
        sign, name = match.groups()
        assert sign == "-", f"{flag}: a mask only removes"
        assert name in qemu, f"{name} is not a QEMU flag"
        feature = qemu[name]
        zeros[feature.location] = zeros.get(feature.location, 0) | feature.mask
    if "phys-bits" in entry:
        bits = int(entry["phys-bits"])
        assert 8 <= bits <= 64
        location = (0x80000008, 0, "eax")
        zeros[location], ones[location] = zeros.get(location, 0) | (~bits & 0xFF), bits
    return zeros, ones


def check(vm: Decoded, plan, target_features, target_fields=None, options=MaskOptions()) -> list[str]:
    text = render(plan, "proxmox", options)
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    sections = parse_sections(text)
    assert len(sections) == 1
    (entry,) = sections.values()
    found = model_problems(vm, plan, entry["reported-model"], removed_features(entry), target_features, text)
    zeros, ones = proxmox_edits(entry)
    return found + named_format_problems(vm, plan, text, zeros, ones, "qemu", target_features,
                                         target_fields, lowerable=("phys_addr_bits",))


def removed_features(entry: dict[str, str]) -> frozenset[str]:
    qemu = feature_table().by_vocabulary["qemu"]
    return frozenset(qemu[flag[1:]].name for flag in entry.get("flags", "").split(";") if flag)


@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_proxmox_between_reference_dumps(source):
    failures = pair_failures(source, check)
    assert not failures, "\n".join(failures)


def test_entry_shape_and_reported_model():
    vm = instlat("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt")
    target = instlat("GenuineIntel00306F2_HaswellEP_00_CPUID.txt")
    plan = plan_for_hosts(vm, [target])
    text = render(plan, "proxmox", MaskOptions(name="spr-on-haswell"))
    entry = parse_sections(text)["spr-on-haswell"]
    assert entry["reported-model"].startswith("Haswell")  # closest model the Haswell target offers
    assert entry["phys-bits"] == str(target.fields["phys_addr_bits"])
    assert "-avx512f" in entry["flags"].split(";")
    assert "level" not in entry  # not an option of cpu-models.conf; the lowering is in a comment
    assert "max_basic_leaf" in "\n".join(text.splitlines()[len(header_lines(plan)):])
    assert "cpu: custom-spr-on-haswell" in text


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "EPYC-Rome-v1")
    assert not check(zen3, plan, plan.target_features)
    entry = next(iter(parse_sections(render(plan, "proxmox")).values()))
    assert entry["reported-model"] == "EPYC-Rome"


def test_derived_names_differ_by_target(zen3):
    one = parse_sections(render(plan_for_baseline(zen3, "EPYC-Rome-v1"), "proxmox"))
    two = parse_sections(render(plan_for_baseline(zen3, "x86-64-v2"), "proxmox"))
    assert one.keys() != two.keys()


def test_bad_name_is_a_usage_error():
    result = CliRunner().invoke(app, ["mask", str(ZEN3_KVM), "--qemu-model", "x86-64-v2",
                                      "--format", "proxmox", "--name", "bad name!"])
    assert result.exit_code == 2
    assert "error:" in result.output


def test_cli_proxmox():
    result = CliRunner().invoke(app, ["mask", str(ZEN3_KVM), "--qemu-model", "x86-64-v2",
                                      "--format", "proxmox", "--name", "v2"])
    assert result.exit_code == 0, result.output
    assert parse_sections(result.stdout)["v2"]["reported-model"]
