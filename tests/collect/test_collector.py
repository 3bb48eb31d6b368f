"""The collector over fakes: document shape, CPU selection, degraded sources, deadline, hybrid CPUs."""

from __future__ import annotations

import errno
import json
import time

import jsonschema
import pytest

from cpucompat.collect.collector import collect
from cpucompat.decode import decode
from cpucompat.errors import UsageError
from cpucompat.formats.reader import parse_text
from cpucompat.knowledge.tables import data_file
from cpucompat.dump import CpuLeaves
from cpucompat.formats.fingerprint import dumps, validate

from .cpus import alder_lake_e, alder_lake_p, skylake_sp
from .fakes import FakeCpuid, FakeMsr, make_root, sources

SCHEMA = json.loads(data_file("fingerprint.schema.json").read_text())


def two_skylakes() -> dict:
    return {0: FakeCpuid(skylake_sp(), xcr0=0x2E7), 1: FakeCpuid(skylake_sp(), xcr0=0x2E7)}


def test_document_validates_and_reads_back(tmp_path):
    root = make_root(tmp_path, [0, 1])
    kvm = CpuLeaves(0, {(0, 0): skylake_sp()[(0, 0)], (1, 0): skylake_sp()[(1, 0)]})
    collection = collect(sources=sources(root, two_skylakes(), kvm=kvm))
    document = collection.document()
    jsonschema.validate(document, SCHEMA)
    assert validate(document) is None  # the reader's compiled validator agrees: the schema is the one truth
    back = parse_text(dumps(document), "fp.json")  # the fingerprint parser reads what build() writes
    assert [c.index for c in back.cpus] == [0, 1]
    assert back.cpus[0].leaves == collection.cpus[0].leaves and back.cpus[0].xcr0 == 0x2E7
    assert back.kvm_supported.leaves == kvm.leaves
    assert {k.index: k.microcode for k in back.kernel} == {0: "0x2006e05", 1: "0x2006e05"}
    assert document["source"]["method"] == "fake-cpuid"
    assert document["host"]["hostname"] == "fakehost"
    assert document["kernel"]["version"] == "6.1.0-fake"
    assert document["kernel"]["cmdline_feature_options"] == ["clearcpuid=514", "nosmt"]
    assert document["firmware"] == {"bios_vendor": "Dell Inc.", "bios_version": "2.17.1",
                                    "bios_date": "11/14/2022", "board_name": "0W23H8"}


def test_content_hash_ignores_host_and_time(tmp_path):
    first = collect(sources=sources(make_root(tmp_path / "a", [0, 1]), two_skylakes())).document()
    second = collect(sources=sources(make_root(tmp_path / "b", [0, 1]), two_skylakes())).document()
    assert first["content_hash"] == second["content_hash"]


def test_cpus_restricts_and_rejects_offline_cpus(tmp_path):
    root = make_root(tmp_path, [0, 1])
    assert [c.index for c in collect([1], sources=sources(root, two_skylakes())).cpus] == [1]
    with pytest.raises(UsageError, match=r"--cpus: CPU 5 not online \(online: 0-1\)"):
        collect([0, 5], sources=sources(root, two_skylakes()))


def test_cpus_outside_the_cpu_set_read_through_dev_cpu_cpuid(tmp_path):
    root = make_root(tmp_path, [0, 1])
    collection = collect(sources=sources(root, two_skylakes(), allowed={0}))
    assert [c.index for c in collection.cpus] == [0, 1]
    assert collection.source["cpus"] == {"fake-cpuid": "0", "dev-cpu-cpuid": "1"}
    assert collection.source["method"] == "mixed"
    assert collection.cpus[1].xcr0 == 0x2E7  # borrowed from CPU 0, with a note
    assert any(n.startswith("XCR0 of CPUs 1 is CPU 0's") for n in collection.notes)
    assert "CPUs 1 are outside this process's CPU set (0); read through /dev/cpu/N/cpuid" in collection.notes


def test_cpus_outside_the_cpu_set_without_dev_cpu_are_noted_missing(tmp_path):
    root = make_root(tmp_path, [0, 1])
    collection = collect(sources=sources(root, two_skylakes(), allowed={0}, dev_cpuid=False))
    assert [c.index for c in collection.cpus] == [0]
    assert ("CPUs 1 not collected: outside this process's CPU set and /dev/cpu/N/cpuid permission denied "
            "(reading it needs root)") in collection.notes
    assert collection.kernel_cpus.keys() == {0, 1}  # the kernel's view is still there
    assert [c["cpu"] for c in collection.document()["kernel"]["cpus"]] == [0]


def test_degraded_host_says_what_is_missing(tmp_path):
    root = make_root(tmp_path, [0], smt=None)
    (root / "sys/class/dmi/id").rename(root / "no-dmi")
    collection = collect(sources=sources(root, {0: FakeCpuid(skylake_sp(), xcr0=0x2E7)}, FakeMsr(error=errno.EACCES),
                                         kvm=OSError(errno.EACCES, "Permission denied")))
    assert collection.kvm_supported is None
    assert collection.notes == [
        "/dev/kvm: permission denied (needs root or the kvm group; raw.kvm_supported not collected)",
        "/dev/cpu/N/msr on CPUs 0: permission denied (reading MSRs needs root); NX/XD, Limit CPUID Maxval "
        "and VT-x/AMD-V findings inferred from CPUID, /proc/cpuinfo and /dev/kvm",
        "/sys/class/dmi/id: nothing readable (no DMI on this platform or VM); firmware unknown",
    ]
    jsonschema.validate(collection.document(), SCHEMA)


def test_no_xcr0_without_osxsave(tmp_path):
    no_osxsave = FakeCpuid(skylake_sp(), xcr0=0x2E7).with_leaf(1, ecx=0x7FFEFBFF & ~(1 << 27))
    collection = collect(sources=sources(make_root(tmp_path, [0]), {0: no_osxsave}))
    assert collection.cpus[0].xcr0 is None


class SlowCpuid(FakeCpuid):
    def cpuid(self, leaf, subleaf):
        time.sleep(0.002)
        return super().cpuid(leaf, subleaf)


def test_deadline_drops_the_unfinished_cpu_and_says_so(tmp_path):
    cpus = {0: FakeCpuid(skylake_sp()), 1: SlowCpuid(skylake_sp()), 2: FakeCpuid(skylake_sp())}
    access = sources(make_root(tmp_path, [0, 1, 2]), cpus)
    collection = collect(sources=access, deadline_s=0.03)
    assert [c.index for c in collection.cpus] == [0]
    assert "collection deadline (0.03 s) reached while reading CPU 1; CPUs 1-2 not collected" in collection.notes
    assert access.cpuid.restored  # the original affinity is always put back


def test_hybrid_cpus_give_the_per_cpu_difference_warning(tmp_path):
    cpus = {0: FakeCpuid(alder_lake_p(), xcr0=0x207), 1: FakeCpuid(alder_lake_e(), xcr0=0x207)}
    collection = collect(sources=sources(make_root(tmp_path, [0, 1]), cpus))
    warnings = decode(collection.dump()).warnings
    assert ("CPUs differ in core_type: Intel Core (P-core) on CPUs 0; Intel Atom (E-core) on CPUs 1"
            in warnings)
    # ... and the same from the written fingerprint
    assert decode(parse_text(dumps(collection.document()), "fp.json")).warnings == warnings
