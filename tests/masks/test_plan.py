"""The format-neutral mask plan: dependency closure, XSAVE components, lowering, named targets."""

from __future__ import annotations

from cpucompat.decode import decode
from cpucompat.masks import plan_for_baseline, plan_for_hosts
from cpucompat.formats.reader import read_dump

from ..conftest import TEST_DATA

FIXTURE = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"


def _without(bits: dict[tuple[int, int, int], int], name: str = "target"):
    """Our Zen 3 fixture with some register bits cleared: {(leaf, subleaf, reg index): mask}."""
    dump = read_dump(FIXTURE)
    for cpu in dump.cpus:
        for (leaf, subleaf, reg), mask in bits.items():
            regs = list(cpu.get(leaf, subleaf))
            regs[reg] &= ~mask
            cpu.leaves[(leaf, subleaf)] = tuple(regs)
    decoded = decode(dump)
    decoded.name = name
    return decoded


def test_hiding_avx_hides_its_dependents_and_its_state():
    vm = decode(read_dump(FIXTURE))
    target = _without({(1, 0, 2): 1 << 28})  # CPUID.1:ECX[28] AVX
    plan = plan_for_hosts(vm, [target])
    assert {"avx", "avx2", "fma", "f16c", "vaes", "vpclmulqdq"} <= set(plan.hidden)
    assert plan.lacking["avx"] == ["target"]
    assert plan.xsave_hidden & 1 << 2, "the YMM state component goes with AVX"
    assert "osxsave" not in plan.hidden and "hypervisor" not in plan.hidden
    assert {"sse4_2", "aes", "xsave"} <= plan.kept


def test_lower_address_bits_and_nothing_else():
    vm = decode(read_dump(FIXTURE))
    target = _without({(0x80000008, 0, 0): 0x10})  # 48 (0x30) -> 32 (0x20) physical address bits
    plan = plan_for_hosts(vm, [target])
    # invtsc is not migratable: a VM that may move never keeps it (cluster.Policy)
    assert plan.hidden == ("invtsc",) and plan.lower == {"phys_addr_bits": 32}


def test_identical_target_hides_only_what_never_migrates():
    vm = decode(read_dump(FIXTURE))
    plan = plan_for_hosts(vm, [decode(read_dump(FIXTURE))])
    assert plan.hidden == ("invtsc",) and not plan.lower and not plan.xsave_hidden
    # this KVM guest reports SSBD (7.0:EDX[31]) without SPEC_CTRL (7.0:EDX[26]); no host has the
    # requirement, so nothing was lost and the bit stays
    assert "spec_ctrl_ssbd" in plan.kept and "spec_ctrl" not in vm.features


def test_masking_to_psabi_keeps_the_system_features():
    vm = decode(read_dump(FIXTURE))
    plan = plan_for_baseline(vm, "x86-64-v3")
    assert {"sha_ni", "aes", "vaes"} <= set(plan.hidden)  # not guaranteed by x86-64-v3
    assert {"avx2", "fma", "bmi2", "apic", "pae", "nx", "syscall", "e_fpu", "sse4_2"} <= plan.kept
    assert not {"avx", "avx2", "xsave"} & set(plan.hidden)


def test_masking_to_an_evc_mode_hides_only_instructions_beyond_it():
    vm = decode(read_dump(FIXTURE))
    plan = plan_for_baseline(vm, "amd-zen2")
    assert {"pku", "invpcid", "vaes"} <= set(plan.hidden)
    assert {"sha_ni", "avx2", "clwb", "apic", "amd_ssbd"} <= plan.kept
