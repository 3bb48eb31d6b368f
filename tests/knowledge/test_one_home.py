"""Vocabularies, vendor labels and BIOS-finding losses each have one home, which the CLI, the
libvirt writer and the fleet synthesiser derive from."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cpucompat import cli
from cpucompat.evc import finding_features
from cpucompat.fleet.synth import variations
from cpucompat.knowledge.tables import data_file, rows
from cpucompat.knowledge.vocabularies import VOCABULARIES
from cpucompat.masks.libvirt import libvirt_vendors

X86_VENDORS = Path("/usr/share/libvirt/cpu_map/x86_vendors.xml")


def test_vocabularies_are_the_name_columns_of_the_feature_table():
    header = next(line for line in data_file("features.csv").read_text().splitlines() if not line.startswith("#"))
    columns = [c.removesuffix("_name") for c in header.split(",") if c.endswith("_name")]
    assert list(VOCABULARIES) == ["canonical", *columns]
    from cpucompat.knowledge.features import feature_table

    feature = feature_table().by_name["avx2"]
    assert set(feature.names) == set(VOCABULARIES[1:])
    assert all(getattr(feature, v) == feature.name_in(v) for v in VOCABULARIES[1:])


def test_cli_names_choices_are_the_vocabularies():
    assert [v.value for v in cli.Vocabulary] == list(VOCABULARIES)


def test_libvirt_vendor_names_come_from_vendors_csv():
    assert libvirt_vendors() == {r["vendor_string"]: r["libvirt_vendor"] for r in rows("vendors.csv") if r["libvirt_vendor"]}
    assert libvirt_vendors()["GenuineIntel"] == "Intel"


@pytest.mark.skipif(not X86_VENDORS.exists(), reason="libvirt's cpu_map is not installed")
def test_libvirt_vendor_names_match_the_installed_libvirt():
    installed = {v.get("string"): v.get("name") for v in ET.parse(X86_VENDORS).getroot().iter("vendor")}
    assert libvirt_vendors() == installed


def test_synthetic_bios_losses_are_the_findings_table():
    hidden = finding_features()
    from cpucompat.fleet.synth import FINDING_SHARES

    for (finding, _, _), variation in zip(FINDING_SHARES, variations()):
        assert frozenset(variation.features) == hidden[finding]
