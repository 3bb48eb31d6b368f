"""The CPUID probe guest under QEMU TCG: it builds, boots, decodes, shows a mask bit for bit,
and the shipped fixtures in tests/data/qemu are exactly what it prints today.

Boots take ~0.1-0.2 s each under TCG; the whole file stays within a few seconds.
"""

from __future__ import annotations

import statistics
from functools import lru_cache
from pathlib import Path

import pytest

from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table
from cpucompat.formats.reader import parse_text, read_dump
from tests.qemu_probe import harness, regenerate
from tests.qemu_probe.harness import BitChange, ProbeError, QemuRejected

#: QEMU 7.2's answer for what its TCG cannot give Haswell-v4; tests ask the running QEMU
#: (harness.tcg_unavailable) and compare with this only under 7.2.
HASWELL_V4_TCG_DROPPED_7_2 = {"pcid", "x2apic", "tsc-deadline", "invpcid", "spec-ctrl"}

#: Bits that may differ between two boots of one model. None: the harness always boots
#: `-smp 1`, so the APIC IDs (1:EBX[31:24], 0xB/0x1F:EDX, 0x8000001E:EAX) are 0 every time,
#: and TCG's CPUID depends only on the model and machine type, never on the host CPU or the
#: clock. A field that starts to vary must be added here with its reason.
VARYING: harness.IgnoreMasks = {}

#: Where the probe's OS-like state (CR4.OSXSAVE, CR4.PKE, XCR0) shows in CPUID: OSXSAVE,
#: OSPKE, and the XSAVE area size for the enabled XCR0 (0xD.0 EBX).
OS_STATE_FIELDS = {(0x1, 0, "ecx"), (0x7, 0, "ecx"), (0xD, 0, "ebx")}

#: Vendors of the fixture models, for a decode check that needs no QEMU.
AMD_MODELS = {"max", "qemu64", "EPYC-v3", "EPYC-Rome-v2", "EPYC-Milan-v1"}


@lru_cache(maxsize=None)
def probed(cpu: str, bare: bool = False) -> harness.ProbeResult:
    """One boot per (cpu, mode) for the whole session."""
    return harness.probe(cpu, bare=bare)


def locations(diff: harness.DumpDiff) -> set[tuple[int, int, str]]:
    return {(change.leaf, change.subleaf, change.register) for change in diff.changed}


# ---- without QEMU ------------------------------------------------------------------


SERIAL = (
    "CPUID-PROBE-START\r\n"
    "CPUID-PROBE-BEGIN mode=os\r\n"
    "CPU:\n"
    "   0x00000000 0x00: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n"
    "   0x00000001 0x00: eax=0x000306c1 ebx=0x00000800 ecx=0x0c002001 edx=0x078bfbfd\n"
    "   xcr0=0x0000000000000007\n"
    "CPUID-PROBE-END lines=4 cr4=0x00040600\n"
)


def test_cut_dump_strips_cr_and_reads_the_end_marker():
    mode, text, cr4 = harness.cut_dump(SERIAL)
    assert (mode, cr4) == ("os", 0x40600)
    assert text.startswith("CPU:\n") and "\r" not in text
    dump = parse_text(text, "serial")
    assert dump.cpus[0].xcr0 == 7 and dump.cpus[0].get(1)[0] == 0x306C1


def test_cut_dump_detects_truncation():
    with pytest.raises(ProbeError, match="has 3 lines, the guest printed 4"):
        harness.cut_dump(SERIAL.replace("   xcr0=0x0000000000000007\n", ""))
    with pytest.raises(ProbeError, match="no complete dump"):
        harness.cut_dump(SERIAL.split("CPUID-PROBE-END")[0])


def test_parse_unsupported_reads_qemu_warnings():
    stderr = (
        "qemu-system-x86_64: warning: TCG doesn't support requested feature: "
        "CPUID.07H:EBX.hle [bit 4]\n"
        "qemu-system-x86_64: warning: host doesn't support requested feature: "
        "CPUID.0DH:EAX [bit 9]\n"
    )
    found = harness.parse_unsupported(stderr)
    assert [str(item) for item in found] == ["CPUID.07H:EBX.hle[4]", "CPUID.0DH:EAX[9]"]
    assert [item.accelerator for item in found] == ["TCG", "host"]


def test_diff_dumps_reports_bits_keys_and_xcr0():
    old_text = harness.cut_dump(SERIAL)[1]
    new_text = (old_text.replace("ecx=0x0c002001", "ecx=0x0c002003")
                .replace("xcr0=0x0000000000000007", "xcr0=0x3")
                + "   0x80000000 0x00: eax=0x80000000 ebx=0x0 ecx=0x0 edx=0x0\n")
    old, new = parse_text(old_text, "old"), parse_text(new_text, "new")
    diff = harness.diff_dumps(old, new)
    assert diff.changed == [BitChange(1, 0, "ecx", 1, 0, 1)]
    assert diff.only_new == [(0x80000000, 0)] and diff.only_old == []
    assert diff.xcr0 == (7, 3)
    assert not harness.diff_dumps(old, old.cpus[0])
    ignored = harness.diff_dumps(old, new, ignore={(1, None, "ecx"): 0b10})
    assert not ignored.changed and ignored.only_new


@pytest.mark.parametrize("cpu", regenerate.MODELS)
def test_fixture_is_shipped_and_decodes(cpu):
    path = regenerate.fixture_path(cpu)
    assert path.is_file(), f"missing {path.name}: run python -m tests.qemu_probe.regenerate"
    version, recorded_cpu = regenerate.recorded(path)
    assert recorded_cpu == cpu and harness.qemu_release(version) >= (7, 2)
    decoded = decode(read_dump(path))
    assert decoded.vendor == ("AuthenticAMD" if cpu in AMD_MODELS else "GenuineIntel")
    assert {"fpu", "tsc", "cx8", "sse2", "lm"} <= decoded.features


def test_fixtures_directory_holds_only_known_models():
    known = {regenerate.fixture_path(cpu).name for cpu in regenerate.MODELS}
    shipped = {path.name for path in regenerate.FIXTURES.glob("*_cpuid-r.txt")}
    assert shipped == known


# ---- with QEMU ---------------------------------------------------------------------


def test_probe_builds_once(probe_kernel: Path):
    harness.check_image(probe_kernel)
    assert probe_kernel.stat().st_size < 64 * 1024
    assert harness.build_probe() == probe_kernel  # cached by source hash


def test_build_into_a_given_workdir(probe_kernel: Path, tmp_path: Path):
    built = harness.build_probe(tmp_path)
    assert built.parent.parent == tmp_path and built.read_bytes() == probe_kernel.read_bytes()


def test_max_boots_and_decodes(probe_kernel):
    result = probed("max")
    dump = result.dump
    assert result.mode == "os" and dump.extra["qemu_probe"]["exit"] == "isa-debug-exit"
    decoded = decode(dump)
    assert {"sse4_1", "sse4_2", "ssse3", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2", "movbe",
            "aes", "pclmulqdq", "xsave", "osxsave", "pku", "ospke", "lm"} <= decoded.features
    # what this QEMU's TCG cannot emulate is absent even from `max` (qemu-guest-probe.md §5)
    props = harness.qmp_expansion("max")
    table = feature_table()
    absent = {table.by_vocabulary["qemu"][q].name for q in ("x2apic", "pcid", "avx512f", "sha-ni", "rdseed", "xsavec")
              if not props.get(q)}
    assert absent and not absent & decoded.features
    cpu = dump.cpus[0]
    supported = cpu.get(0xD)[0] | cpu.get(0xD)[3] << 32
    assert cpu.xcr0 == supported | 1  # XCR0 written = every component CPUID.(0xD,0) offers
    assert result.cr4 & (1 << 18) and result.cr4 & (1 << 22)  # OSXSAVE, PKE


def test_boot_time_is_a_fraction_of_a_second(probe_kernel, record_property):
    times = [harness.probe("max").seconds for _ in range(3)]
    record_property("boot_seconds", times)
    assert statistics.median(times) < 2.0, times  # ~0.1-0.2 s measured; generous for CI


def test_bare_mode_differs_only_in_os_state(probe_kernel):
    os_mode, bare = probed("max"), probed("max", bare=True)
    assert bare.mode == "bare" and bare.dump.cpus[0].xcr0 == 1  # the reset value
    diff = harness.diff_dumps(os_mode.dump, bare.dump)
    assert locations(diff) <= OS_STATE_FIELDS and not diff.only_old and not diff.only_new
    assert BitChange(1, 0, "ecx", 27, 1, 0) in diff.changed  # OSXSAVE
    assert BitChange(7, 0, "ecx", 4, 1, 0) in diff.changed  # OSPKE


def test_mask_changes_exactly_avx2(probe_kernel):
    plain, masked = probed("Haswell-v4"), probed("Haswell-v4,-avx2")
    diff = harness.diff_dumps(plain.dump, masked.dump)
    assert diff.changed == [BitChange(7, 0, "ebx", 5, 1, 0)], str(diff)
    assert not diff.only_old and not diff.only_new and diff.xcr0 is None
    assert decode(plain.dump).features - decode(masked.dump).features == {"avx2"}


def test_enforce_fails_under_tcg_because_of_unemulated_haswell_features(probe_kernel):
    with pytest.raises(QemuRejected) as caught:
        harness.boot("Haswell-v4,-avx2,enforce")
    assert "TCG doesn't support requested features" in str(caught.value)
    assert caught.value.returncode == 1
    dropped = {item.name for item in harness.parse_unsupported(caught.value.stderr)}
    assert dropped == harness.tcg_unavailable("Haswell-v4")
    if harness.qemu_release() == (7, 2):
        assert dropped == HASWELL_V4_TCG_DROPPED_7_2
    # without enforce the same features are dropped silently (warnings only)
    assert {item.name for item in probed("Haswell-v4,-avx2").unsupported} == dropped


def test_enforce_passes_once_the_tcg_dropped_features_are_masked(probe_kernel):
    masks = ",".join(f"-{name}" for name in sorted(harness.tcg_unavailable("Haswell-v4")))
    enforced = harness.probe(f"Haswell-v4,-avx2,{masks},enforce")
    assert not enforced.unsupported
    assert not harness.diff_dumps(probed("Haswell-v4,-avx2").dump, enforced.dump)


def test_qemu_rejections_carry_qemu_words(probe_kernel):
    with pytest.raises(QemuRejected, match=r"Property 'Haswell-v4-x86_64-cpu\.avx2x' not found"):
        harness.boot("Haswell-v4,-avx2x")
    with pytest.raises(QemuRejected, match="unable to find CPU model 'x86-64-v2'"):
        harness.boot("x86-64-v2")


def test_osxsave_hang_falls_back_to_bare_mode(probe_kernel):
    # QEMU 7.2 TCG spins on the CR4.OSXSAVE write for xsave without xsaveopt on qemu64
    result = harness.probe("qemu64,+xsave", stall=1.0)
    assert result.mode == "bare" and len(result.runs) == 2 and result.runs[0].stalled
    assert any("stalled" in note for note in result.dump.notes)
    ecx = result.dump.cpus[0].get(1)[2]
    assert ecx >> 26 & 1 and not ecx >> 27 & 1  # XSAVE offered, OSXSAVE clear


@pytest.mark.parametrize("cpu", regenerate.MODELS)
def test_fixture_equals_a_fresh_boot(probe_kernel, cpu):
    path = regenerate.fixture_path(cpu)
    version, _ = regenerate.recorded(path)
    if harness.qemu_release(version) != harness.qemu_release():
        pytest.skip(f"fixture made under QEMU {version}, this is QEMU {harness.qemu_version()}")
    result = probed(cpu)
    diff = harness.diff_dumps(read_dump(path), result.dump, ignore=VARYING)
    assert not diff, f"{path.name} vs a fresh boot:\n{diff}"
    # also the comments (mode, CR4, what TCG dropped) and the line order, byte for byte
    assert path.read_text(encoding="utf-8") == regenerate.fixture_text(result, version)

