"""AIDA64 / InstLatx64 text: the five variants, subleaf tags and the untagged-0xD inference."""

from __future__ import annotations

import re

import pytest

from cpucompat.errors import InputError
from cpucompat.formats import aida64
from cpucompat.formats.reader import parse_text, read_dump

from ._reference import DUMPS, reference_file, require_reference
from ._samples import AIDA64_A, AIDA64_B, AIDA64_C, AIDA64_D, AIDA64_E, CPUID_R


def test_sniff():
    for sample in (AIDA64_A, AIDA64_B, AIDA64_C, AIDA64_D, AIDA64_E):
        assert aida64.sniff(sample)
    assert not aida64.sniff(CPUID_R)


def test_variant_a_tags_annotations_easter_egg_and_msr_sections():
    dump = parse_text(AIDA64_A, "a.txt")
    assert dump.format == "aida64"
    assert [(c.index, c.label) for c in dump.cpus] == [
        (0, "CPUID Registers / Logical CPU #0"),
        (1, "CPUID Registers / Logical CPU #1"),
    ]
    cpu0 = dump.cpus[0]
    assert cpu0.get(7, 1) == (0x20, 0, 0, 0)
    assert cpu0.get(0xD, 5) == (0x40, 0x340, 0, 0)
    assert not cpu0.has(0x8FFFFFFF)
    assert dump.cpus[1].get(0)[0] == 0x10  # leaves out of order are fine


def test_variant_b_untagged_subleaves():
    cpu = parse_text(AIDA64_B, "b.txt").cpus[0]
    assert cpu.label == "Logical CPU #0"
    assert cpu.get(4, 1)[0] == 0x1C004122
    assert cpu.get(0xB, 1) == (4, 4, 0x201, 0)
    assert sorted(s for (leaf, s) in cpu.leaves if leaf == 0xD) == [0, 2]


def test_variant_c_affinity_headers():
    dump = parse_text(AIDA64_C, "c.txt")
    assert [c.index for c in dump.cpus] == [0, 1]
    assert dump.cpus[0].label == "CPU#000 AffMask: 0x0000000000000001"
    assert dump.cpus[0].get(0x40000000)[1] == 0x7263694D


def test_variant_d_tab_without_colon():
    dump = parse_text(AIDA64_D, "d.txt")
    assert [(c.index, c.label) for c in dump.cpus] == [(0, "CPUID Registers (CPU #0)"), (1, "CPUID Registers (CPU #1)")]
    assert dump.cpus[1].get(1) == (0x008A0F00, 0x01080800, 0x7EF8320B, 0x178BFBFF)


def test_variant_e_bare_lines_split_at_leaf_0_and_spaces_as_separators():
    dump = parse_text(AIDA64_E, "e.txt")
    assert [c.index for c in dump.cpus] == [0, 1, 2]
    assert dump.cpus[0].get(0x80000000)[0] == 0x80000018
    assert [c.get(1)[1] >> 24 for c in dump.cpus] == [0, 1, 2]


def test_truncated_register_line():
    text = AIDA64_B.replace("CPUID 0000000B: 00000004-00000004-00000201-00000000", "CPUID 0000000B: 00000004-0000")
    with pytest.raises(InputError) as error:
        parse_text(text, "b.txt")
    assert error.value.line == 19 and "b.txt:19: expected 'CPUID LLLLLLLL" in str(error.value)


def test_no_register_lines():
    with pytest.raises(InputError, match="no CPUID leaves"):
        aida64.parse("------[ Logical CPU #0 ]------\n\nallcpu: Valid\n", "x.txt")


def test_untagged_xsave_lines_after_a_header():
    text = (
        "CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69\n"
        "CPUID 0000000D: 000002E7-00000980-00000988-00000000\n"  # SL 0: x87 SSE AVX 5 6 7 PKRU
        "CPUID 0000000D: 0000000F-00000990-00001800-00000000\n"  # SL 1: xsaveopt..., XSS = CET
        "CPUID 0000000D: 00000100-00000240-00000000-00000000\n"  # AVX
        "CPUID 0000000D: 00000040-00000340-00000000-00000000\n"  # opmask at AMD's offset
        "CPUID 0000000D: 00000200-00000380-00000000-00000000\n"
        "CPUID 0000000D: 00000400-00000580-00000000-00000000\n"
        "CPUID 0000000D: 00000008-00000980-00000000-00000000\n"  # PKRU at AMD's offset
        "CPUID 0000000D: 00000010-00000000-00000001-00000000\n"  # CET_U (supervisor)
        "CPUID 0000000D: 00000018-00000000-00000001-00000000\n"  # CET_S
    )
    cpu = parse_text(text, "x.txt").cpus[0]
    assert sorted(s for (leaf, s) in cpu.leaves if leaf == 0xD) == [0, 1, 2, 5, 6, 7, 9, 11, 12]


def test_hygon_subleaf_1_is_not_mistaken_for_avx():
    """Hygon's subleaf 1 EBX is 0x240, AVX's standard offset; EAX (0xF) tells them apart."""
    text = (
        "CPUID 0000000D: 00000007-00000240-00000340-00000000\n"
        "CPUID 0000000D: 0000000F-00000240-00000000-00000000\n"
        "CPUID 0000000D: 00000100-00000240-00000000-00000000\n"
    )
    cpu = parse_text(text, "x.txt").cpus[0]
    assert cpu.get(0xD, 1)[0] == 0xF and cpu.get(0xD, 2)[0] == 0x100


def _tagged_reference_dumps() -> list:
    if not DUMPS.is_dir():
        return [None]
    return sorted(p.name for p in (DUMPS / "instlatx64").glob("*.txt") if "[SL " in p.read_text())


@pytest.mark.parametrize("name", _tagged_reference_dumps())
def test_xsave_inference_reproduces_the_tags(name):
    """Strip the [SL nn] tags of every 0xD line of a tagged dump: the inferred subleaves match."""
    if name is None:
        require_reference()
    path = reference_file(f"dumps/instlatx64/{name}")
    text = path.read_text()
    untagged = re.sub(r"^(CPUID 0000000D: \S+)\s*\[SL [0-9A-F]+\]", r"\1", text, flags=re.MULTILINE)
    tagged_dump, untagged_dump = read_dump(path), parse_text(untagged, name)
    for tagged, inferred in zip(tagged_dump.cpus, untagged_dump.cpus, strict=True):
        assert {k: v for k, v in tagged.leaves.items() if k[0] == 0xD} == {
            k: v for k, v in inferred.leaves.items() if k[0] == 0xD
        }
