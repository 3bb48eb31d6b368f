"""Which leaves and subleaves the collector reads: ranges, per-leaf subleaf rules, caps."""

from __future__ import annotations

from cpucompat.collect.leaves import MAX_RANGE_LEAVES, MAX_SUBLEAF, read_leaves
from cpucompat.knowledge.cpuid_layout import subleaf_rules

from .cpus import alder_lake_p, epyc_rome, skylake_sp
from .fakes import FakeCpuid

GENUINE_INTEL = (0x756E6547, 0x6C65746E, 0x49656E69)  # ebx, ecx, edx of leaf 0
CENTAUR = (0x746E6543, 0x736C7561, 0x48727561)  # "CentaurHauls"


def subleaves_of(leaves: dict, leaf: int) -> list[int]:
    return sorted(s for (l, s) in leaves if l == leaf)


def test_skylake_sp_reads_exactly_its_dump_plus_the_terminating_subleaves():
    cpu = FakeCpuid(skylake_sp())
    leaves, notes = read_leaves(cpu)
    # The dump leaves out all-zero subleaves that end a list (4.4, 0xB.2, 0x12.2) and the
    # MBA subleaf 0x10.3 its 0x10.0 EBX = 0xA announces (bits 1 and 3).
    assert set(leaves) == set(skylake_sp()) | {(4, 4), (0xB, 2), (0x10, 3), (0x12, 2)}
    assert notes == []
    assert all(leaves[key] == regs for key, regs in skylake_sp().items())


def test_never_reads_above_a_range_maximum_nor_an_absent_hypervisor_range():
    cpu = FakeCpuid(skylake_sp())
    read_leaves(cpu)
    basic = [l for l, _ in cpu.calls if l < 0x40000000]
    extended = [l for l, _ in cpu.calls if l >= 0x80000000]
    assert max(basic) == 0x16 and max(extended) == 0x80000008
    assert not [l for l, _ in cpu.calls if 0x40000000 <= l < 0x80000000]  # 1.ECX[31] is clear


def test_leaf_4_stops_at_cache_type_0():
    leaves, _ = read_leaves(FakeCpuid(skylake_sp()))
    assert subleaves_of(leaves, 4) == [0, 1, 2, 3, 4]
    assert leaves[(4, 4)] == (0, 0, 0, 0)


def test_leaf_0xd_follows_xcr0_and_xss_supported_bits():
    # Alder Lake: XCR0-supported 0x207 (x87, SSE, AVX, PKRU), XSS-supported 0x19900
    # (PT, CET_U, CET_S, LBR, HWP) -> components 2, 8, 9, 11, 12, 15, 16.
    leaves, _ = read_leaves(FakeCpuid(alder_lake_p()))
    assert subleaves_of(leaves, 0xD) == [0, 1, 2, 8, 9, 11, 12, 15, 16]


def test_counted_and_until_leaves_on_alder_lake():
    leaves, _ = read_leaves(FakeCpuid(alder_lake_p()))
    assert subleaves_of(leaves, 7) == [0, 1]  # 7.0.EAX = 1
    assert subleaves_of(leaves, 0x18) == list(range(9))  # 0x18.0.EAX = 8
    assert subleaves_of(leaves, 0x1F) == [0, 1, 2]  # level type 0 at subleaf 2
    assert subleaves_of(leaves, 0x1B) == [0, 1]  # PCONFIG target type 0 at subleaf 1
    assert subleaves_of(leaves, 0x12) == [0, 1, 2]  # SGX: 0, 1, then EPC type 0


def test_amd_leaves_on_epyc_rome():
    leaves, _ = read_leaves(FakeCpuid(epyc_rome()))
    assert subleaves_of(leaves, 0x8000001D) == [0, 1, 2, 3, 4]
    assert subleaves_of(leaves, 0x80000020) == [0, 1]  # 0x80000020.0.EBX = 2
    assert subleaves_of(leaves, 0xF) == [0, 1]  # 0xF.0.EDX = 2 (L3 monitoring)
    assert max(l for l, _ in leaves if l >= 0x80000000) == 0x80000020
    assert subleaves_of(leaves, 4) == [0]  # AMD has no leaf 4 data: type 0 at once


def test_hypervisor_range_read_up_to_its_max_only_when_bit_31_is_set():
    cpu = FakeCpuid({
        (0, 0): (1, *GENUINE_INTEL),
        (1, 0): (0x50654, 0, 1 << 31, 0),
        (0x40000000, 0): (0x40000001, 0x4B4D564B, 0x564B4D56, 0x4D),  # "KVMKVMKVM"
        (0x80000000, 0): (0x80000000, 0, 0, 0),
    })
    read_leaves(cpu)
    assert sorted({l for l, _ in cpu.calls if 0x40000000 <= l < 0x80000000}) == [0x40000000, 0x40000001]


def test_centaur_range_only_for_centaur_vendors():
    table = {(0, 0): (1, *CENTAUR), (1, 0): (0x507B3, 0, 0, 0), (0xC0000000, 0): (0xC0000001, 0, 0, 0),
             (0xC0000001, 0): (0, 0, 0, 0x3FCC)}
    leaves, _ = read_leaves(FakeCpuid(table))
    assert (0xC0000001, 0) in leaves
    intel = FakeCpuid({**table, (0, 0): (1, *GENUINE_INTEL)})
    read_leaves(intel)
    assert not [l for l, _ in intel.calls if l >= 0xC0000000]


def test_caps_stop_a_runaway_subleaf_list():
    # Every subleaf of every leaf says "cache type 1, level type 1": leaf 4 would never end.
    runaway = FakeCpuid({(0, 0): (4, *GENUINE_INTEL), (0x80000000, 0): (0x80000000, 0, 0, 0)},
                        default=(0x21, 0, 0x100, 0))
    leaves, notes = read_leaves(runaway)
    assert subleaves_of(leaves, 4) == list(range(MAX_SUBLEAF + 1))
    assert notes == [f"leaf 0x4: more than {MAX_SUBLEAF + 1} subleaves; stopped at {MAX_SUBLEAF:#x}"]


def test_caps_stop_a_huge_count_and_a_huge_max_leaf():
    huge = FakeCpuid({(0, 0): (0xFFFF, *GENUINE_INTEL), (7, 0): (0xFFFFFFFF, 0, 0, 0),
                      (0x80000000, 0): (0x80000000, 0, 0, 0)})
    leaves, notes = read_leaves(huge)
    assert max(l for l, _ in leaves if l < 0x40000000) == MAX_RANGE_LEAVES
    assert subleaves_of(leaves, 7) == list(range(MAX_SUBLEAF + 1))
    assert any("reports max leaf 0xffff" in n for n in notes)
    assert any(n.startswith("leaf 0x7: more than") for n in notes)


def test_every_rule_is_data():
    kinds = {type(rule).__name__ for rule in subleaf_rules().values()}
    assert kinds == {"Count", "Until", "Bitmap"}
    assert {0x4, 0x7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1D, 0x1F, 0x20, 0x23, 0x24,
            0x8000001D, 0x80000020, 0x80000026} <= set(subleaf_rules())
