"""BIOS-influenced findings from fake CPUs, MSRs and /sys: exact statuses and evidence."""

from __future__ import annotations

import errno

import pytest

from cpucompat.collect.collector import collect
from cpucompat.collect.findings import explanations
from cpucompat.dump import CpuLeaves

from .cpus import epyc_rome, skylake_sp
from .fakes import FakeCpuid, FakeMsr, make_root, sources

# Real MSR values of the same Xeon Bronze 3104 (GenuineIntel0050654_SkylakeXeon_CPUID9.txt):
MISC_ENABLE = 0x0000000000850089  # MSR 000001A0: fast strings, TCC, perfmon, EIST, MONITOR
FEATURE_CONTROL = 0x5  # locked, VMX outside SMX allowed (as on the KX-40000 dump)
SKYLAKE_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep lm nx aes vmx avx avx2 avx512f"
ROME_FLAGS = "fpu vme de pse tsc msr pae lm nx aes svm avx avx2"
NO_MSR = FakeMsr(error=errno.ENOENT)


def findings(tmp_path, cpus: dict, msr=None, flags=SKYLAKE_FLAGS, smt=("on", "1"), kvm=False, kvm_leaves=None):
    root = make_root(tmp_path, sorted(cpus), flags=flags, smt=smt, kvm=kvm)
    collection = collect(sources=sources(root, cpus, msr or NO_MSR, kvm=kvm_leaves))
    return {f["id"]: f for f in collection.findings}, collection


def skylake(changes: dict | None = None) -> FakeCpuid:
    """The Xeon Bronze 3104 with some registers changed: {(leaf, "edx"): value}."""
    cpu = FakeCpuid(skylake_sp(), xcr0=0x2E7)
    for (leaf, register), value in (changes or {}).items():
        cpu = cpu.with_leaf(leaf, **{register: value})
    return cpu


def intel_msrs(cpus=(0,), misc=MISC_ENABLE, feature=FEATURE_CONTROL) -> FakeMsr:
    values = {}
    for cpu in cpus:
        values[(cpu, 0x1A0)], values[(cpu, 0x3A)] = misc, feature
    return FakeMsr(values)


def test_healthy_skylake_with_readable_msrs(tmp_path):
    found, collection = findings(tmp_path, {0: skylake(), 1: skylake()}, intel_msrs((0, 1)))
    assert {k: f["status"] for k, f in found.items()} == {
        "hypervisor": "not-found", "nx-disabled": "not-found", "limit-cpuid-maxval": "not-found",
        "vt-disabled": "not-found", "aes-disabled": "not-found", "monitor-disabled": "not-found",
        "smt-off": "not-found"}
    assert found["vt-disabled"]["evidence"] == ("IA32_FEATURE_CONTROL (0x3a) = 0x5: lock (bit 0) = 1, "
                                                "VMX outside SMX (bit 2) = 1")
    assert found["limit-cpuid-maxval"]["evidence"] == "max basic leaf 0x16"
    assert all(f["cpus"] == [0, 1] for f in found.values())
    assert not [n for n in collection.notes if "msr" in n]


def test_nx_hidden_found_through_msr_bit_34(tmp_path):
    # XD disable also clears CPUID 0x80000001 EDX[20] (0x2C100000 -> 0x2C000000).
    cpu = skylake({(0x80000001, "edx"): 0x2C000000})
    found, _ = findings(tmp_path, {0: cpu}, intel_msrs(misc=MISC_ENABLE | 1 << 34))
    nx = found["nx-disabled"]
    assert (nx["status"], nx["cpus"]) == ("found", [0])
    assert nx["evidence"] == "IA32_MISC_ENABLE (0x1a0) = 0x400850089: bit 34 (XD disable) = 1"
    assert "Execute Disable Bit" in nx["explanation"]


def test_nx_hidden_inferred_without_msr(tmp_path):
    cpu = skylake({(0x80000001, "edx"): 0x2C000000})
    found, collection = findings(tmp_path, {0: cpu}, FakeMsr(error=errno.EACCES))
    nx = found["nx-disabled"]
    assert nx["status"] == "found"
    assert nx["evidence"] == "CPUID 0x80000001 EDX[20] (NX) = 0 on a 64-bit CPU (EDX[29] LM = 1)"
    assert nx["explanation"].startswith("A 64-bit CPU (lm) that does not report NX")
    assert any(n.startswith("/dev/cpu/N/msr on CPUs 0: permission denied") and "inferred" in n
               for n in collection.notes)


def test_limit_cpuid_maxval_through_msr_bit_22(tmp_path):
    cpu = skylake({(0, "eax"): 2})  # the limit makes CPUID.0:EAX read 2
    found, collection = findings(tmp_path, {0: cpu}, intel_msrs(misc=MISC_ENABLE | 1 << 22))
    limit = found["limit-cpuid-maxval"]
    assert limit["status"] == "found"
    assert limit["evidence"] == "IA32_MISC_ENABLE (0x1a0) = 0xc50089: bit 22 (Limit CPUID Maxval) = 1"
    assert max(l for l, _ in collection.cpus[0].leaves if l < 0x40000000) == 2


def test_limit_cpuid_maxval_inferred(tmp_path):
    cpu = skylake({(0, "eax"): 2})
    found, _ = findings(tmp_path, {0: cpu})
    limit = found["limit-cpuid-maxval"]
    assert (limit["status"], limit["evidence"]) == (
        "found", "max basic leaf 0x2 on family 0x6 model 0x55 with long mode (LM)")


def test_vtx_off_feature_control_locked_without_vmx(tmp_path):
    found, _ = findings(tmp_path, {0: skylake()}, intel_msrs(feature=0x1))
    vt = found["vt-disabled"]
    assert vt["status"] == "found"
    assert vt["evidence"] == "IA32_FEATURE_CONTROL (0x3a) = 0x1: lock (bit 0) = 1, VMX outside SMX (bit 2) = 0"
    assert "disabled by the BIOS" in vt["explanation"]


def test_vtx_off_inferred_from_the_kernel_dropping_vmx(tmp_path):
    found, _ = findings(tmp_path, {0: skylake()}, flags=SKYLAKE_FLAGS.replace(" vmx", ""))
    assert (found["vt-disabled"]["status"], found["vt-disabled"]["evidence"]) == (
        "found", "CPUID reports VMX but /proc/cpuinfo has no vmx flag")


def test_vtx_on_inferred_from_dev_kvm(tmp_path):
    found, _ = findings(tmp_path, {0: skylake()}, kvm=True)
    assert (found["vt-disabled"]["status"], found["vt-disabled"]["evidence"]) == (
        "not-found", "CPUID reports VMX and /dev/kvm exists")


def test_amd_v_off_through_vm_cr(tmp_path):
    found, _ = findings(tmp_path, {0: FakeCpuid(epyc_rome(), xcr0=0x207)}, FakeMsr({(0, 0xC0010114): 0x18}),
                        flags=ROME_FLAGS)
    vt = found["vt-disabled"]
    assert (vt["status"], vt["evidence"]) == ("found", "VM_CR (0xc0010114) = 0x18: bit 4 (SVMDIS) = 1")
    assert "SVM Mode" in vt["explanation"]


def test_amd_v_unknown_without_msr_or_kvm(tmp_path):
    found, _ = findings(tmp_path, {0: FakeCpuid(epyc_rome(), xcr0=0x207)}, flags=ROME_FLAGS)
    assert found["vt-disabled"]["status"] == "unknown"
    assert "--load-msr" in found["vt-disabled"]["explanation"]


def test_aes_ni_hidden_on_intel_and_amd(tmp_path):
    intel = skylake({(1, "ecx"): 0x7FFEFBFF & ~(1 << 25)})
    found, _ = findings(tmp_path / "intel", {0: intel}, intel_msrs())
    assert (found["aes-disabled"]["status"], found["aes-disabled"]["evidence"]) == (
        "found", "CPUID 1 ECX[25] (AES) = 0 on INTEL family 0x6 model 0x55, a model with AES-NI")
    rome = FakeCpuid(epyc_rome()).with_leaf(1, ecx=0x7ED8320B & ~(1 << 25))
    found, _ = findings(tmp_path / "amd", {0: rome}, flags=ROME_FLAGS)
    assert found["aes-disabled"]["status"] == "found"
    assert "hypervisor hides it" in found["aes-disabled"]["explanation"]


def test_monitor_mwait_disabled_through_msr_bit_18_and_inferred(tmp_path):
    # "MONITOR/MWAIT: disabled" in the BIOS clears IA32_MISC_ENABLE[18], which clears CPUID 1 ECX[3].
    hidden = skylake({(1, "ecx"): 0x7FFEFBFF & ~(1 << 3)})
    found, _ = findings(tmp_path / "msr", {0: hidden}, intel_msrs(misc=MISC_ENABLE & ~(1 << 18)))
    monitor = found["monitor-disabled"]
    assert (monitor["status"], monitor["evidence"]) == (
        "found", "IA32_MISC_ENABLE (0x1a0) = 0x810089: bit 18 (ENABLE MONITOR FSM) = 0")
    assert "no EVC mode" in monitor["explanation"]
    found, _ = findings(tmp_path / "cpuid", {0: hidden})
    assert found["monitor-disabled"]["status"] == "found"
    assert found["monitor-disabled"]["evidence"].startswith("CPUID 1 ECX[3] (MONITOR) = 0 on INTEL family 0x6")


def test_aes_ni_absent_on_an_old_cpu_is_unknown(tmp_path):
    # Core i7 860 (Lynnfield, 06/1E/5) has no AES-NI.
    lynnfield = skylake({(1, "eax"): 0x106E5, (1, "ecx"): 0x0098E3BD})
    found, _ = findings(tmp_path, {0: lynnfield}, intel_msrs())
    assert found["aes-disabled"]["status"] == "unknown"


@pytest.mark.parametrize("smt, status, case_text", [
    (("on", "1"), "not-found", "SMT is on."),
    (("off", "0"), "found", "switched off by the kernel"),
    (("forceoff", "0"), "found", "switched off by the kernel"),
    (("notsupported", "0"), "found", "BIOS disabled Hyper-Threading"),
    (("on", "0"), "found", "no sibling thread is online"),
    (None, "unknown", "not readable"),
])
def test_smt(tmp_path, smt, status, case_text):
    found, _ = findings(tmp_path, {0: skylake(), 1: skylake()}, intel_msrs((0, 1)), smt=smt)
    assert found["smt-off"]["status"] == status
    assert case_text in found["smt-off"]["explanation"]
    assert found["smt-off"]["cpus"] == [0, 1]


def test_under_a_hypervisor(tmp_path):
    # A KVM guest of the Skylake: hypervisor bit, KVM leaves, and no VMX offered.
    guest = skylake({(1, "ecx"): (0x7FFEFBFF | 1 << 31) & ~(1 << 5)})
    guest.leaves[(0x40000000, 0)] = (0x40000001, 0x4B4D564B, 0x564B4D56, 0x4D)
    found, _ = findings(tmp_path, {0: guest}, FakeMsr(error=errno.EIO), flags=SKYLAKE_FLAGS.replace(" vmx", ""))
    assert (found["hypervisor"]["status"], found["hypervisor"]["evidence"]) == (
        "found", "CPUID 1 ECX[31] (hypervisor) = 1; leaf 0x40000000 says KVM")
    vt = found["vt-disabled"]
    assert vt["status"] == "unknown" and vt["evidence"].endswith("running under KVM")
    assert "not a BIOS setting" in vt["explanation"]


def test_a_finding_on_some_cpus_only_names_them(tmp_path):
    hidden = skylake({(0x80000001, "edx"): 0x2C000000})
    found, _ = findings(tmp_path, {0: skylake(), 1: hidden, 2: skylake()})
    nx = found["nx-disabled"]
    assert (nx["status"], nx["cpus"]) == ("found", [1])
    assert nx["evidence"].endswith("(CPUs 0,2: not-found)")


def test_every_case_used_has_an_explanation_row():
    table = explanations()
    assert all(text for text in table.values())
    ids = {key[0] for key in table}
    assert ids == {"nx-disabled", "limit-cpuid-maxval", "vt-disabled", "aes-disabled", "monitor-disabled", "smt-off",
                   "hypervisor"}
    for finding in ids:  # every status has at least a row
        assert {s for f, s, _ in table if f == finding} <= {"found", "not-found", "unknown"}


def test_kvm_leaves_and_msrs_are_only_read(tmp_path):
    msr = intel_msrs((0,))
    _, collection = findings(tmp_path, {0: skylake()}, msr, kvm_leaves=CpuLeaves(0, {(0, 0): (0xD, 1, 2, 3)}))
    assert sorted(set(msr.reads)) == [(0, 0x3A), (0, 0x1A0)]
    assert not hasattr(msr, "write")
    assert collection.kvm_supported.leaves == {(0, 0): (0xD, 1, 2, 3)}
