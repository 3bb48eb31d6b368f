"""``collect --check`` text, pinned: the view over a fixed fingerprint of our own (tests/data), since
the command itself reads whatever host it runs on."""

from __future__ import annotations

import io
import json

import pytest

from cpucompat.collect.check import kvm_difference
from cpucompat.collect.collector import Collection
from cpucompat.decode import decode
from cpucompat.formats.reader import read_dump
from cpucompat.views.collect import check_text

from ..conftest import TEST_DATA
from .snapshots import assert_snapshot

FINGERPRINT = TEST_DATA / "linux-kvm-intel-fam6-model0xcf_fingerprint.json"


def _collection(path) -> Collection:
    """The fingerprint as the collector had it before writing it."""
    document = json.loads(path.read_text())
    dump = read_dump(str(path))
    return Collection(cpus=dump.cpus, kernel_cpus={}, kvm_supported=dump.kvm_supported, host=document["host"],
                      source=document["source"], kernel=document["kernel"], firmware=document["firmware"],
                      findings=document["findings"], notes=document["notes"])


def test_check_text_of_a_kvm_guest(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())  # piped: no colour, 100 columns
    collection = _collection(FINGERPRINT)
    decoded = decode(read_dump(str(FINGERPRINT)))
    text = check_text(collection, decoded, kvm_difference(collection, decoded.features))
    assert_snapshot("collect-check-kvm-guest", text)
    first, second = text.splitlines()[:2]
    assert first.startswith("Intel(R) Xeon(R) Processor (GenuineIntel, family 0x6 model 0xcf")
    assert second.startswith("BIOS findings: 2 found (hypervisor, smt-off)")
    assert "\x1b" not in text and "{" not in text and "[" not in first
