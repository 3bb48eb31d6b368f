"""The qemu mask format, proved by its real consumer: QEMU 7.2 TCG booting the CPUID probe guest.

Round trip: source = the probe's dump under ``-cpu max``, targets = its dumps under pinned
named models (tests/data/qemu). The plan ``plan_for_hosts(source, [target])`` is rendered with
``--qemu-base`` = the source's own ``-cpu``; the probe boots that ``-cpu`` line exactly as
printed, ``enforce`` included; the guest's dump is decoded and compared:

- the guest sees exactly the source's features minus the hidden ones (and minus what depends
  on them: OSXSAVE needs XSAVE, OSPKE needs PKU), every difference reported by name;
- every feature of the guest lies within the target's, and it keeps all that both share;
- hidden XSAVE components are gone from leaf 0xD; lowered max leaves and address bits read
  as planned; nothing reads above the target.

QEMU 7.2 facts the tests accommodate (../shared/docs/qemu-guest-probe.md):
- TCG's ``max`` is an AuthenticAMD CPU. An Intel VM under TCG is ``-cpu max,vendor=GenuineIntel``
  (booted here: its features are the ``max`` fixture's minus AMD-only ones, checked below), and
  its mask keeps that base; a plan refuses an AMD source with Intel targets.
- ``enforce`` with a ``max`` base never trips under TCG (``max`` asks only for what TCG has); with
  a named-model base it does, for the model's features TCG cannot emulate (tested separately).
- ``-cpu host`` needs KVM; under TCG QEMU refuses it.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.decode import Decoded, decode
from cpucompat.errors import UsageError
from cpucompat.knowledge.features import feature_table
from cpucompat.cluster import Policy
from cpucompat.masks import MaskOptions, MaskPlan, plan_for_hosts, render
from cpucompat.masks import qemu as qemu_format
from cpucompat.masks.plan import header_lines
from cpucompat.formats.reader import read_dump
from tests.qemu_probe import harness, regenerate

from ..conftest import require_qemu
from .conftest import instlat

INTEL_MAX = "max,vendor=GenuineIntel"
LOWERED = ("max_basic_leaf", "max_extended_leaf", "phys_addr_bits")




# ---- dumps and plans of the round-trip pairs ------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One round trip: the VM's ``-cpu`` (also the mask's base), a target ``-cpu``, and the
    scalar fields the plan must lower (so each pair proves what it is meant to)."""

    source: str
    target: str
    lowered: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.source}->{self.target}"


PAIRS = (
    Pair(INTEL_MAX, "Nehalem-v1", frozenset({"max_basic_leaf", "max_extended_leaf"})),
    Pair(INTEL_MAX, "SandyBridge-v1", frozenset({"max_extended_leaf"})),
    Pair(INTEL_MAX, "Haswell-v4", frozenset({"max_extended_leaf"})),
    Pair(INTEL_MAX, "Skylake-Client-v4", frozenset({"max_extended_leaf"})),
    Pair("max", "EPYC-v3"),
    Pair("max", "EPYC-Rome-v2"),
    Pair("max", "EPYC-Milan-v1"),
    Pair("max", "qemu64"),
    # a target with a narrower physical address width (booted, not a fixture)
    Pair("max", "EPYC-Milan-v1,phys-bits=36", frozenset({"phys_addr_bits"})),
)
#: Pairs needing no boot to plan (source and target are fixtures): usable without QEMU.
FIXTURE_PAIRS = tuple(p for p in PAIRS if p.source == "max" and "," not in p.target)


def needs_boot(cpu: str) -> bool:
    path = regenerate.fixture_path(cpu.split(",")[0])
    if not path.is_file() or "," in cpu:
        return True
    # a fixture recorded under another QEMU release is not what this QEMU's TCG gives
    return harness.available() and harness.qemu_release(regenerate.recorded(path)[0]) != harness.qemu_release()


@functools.cache
def dump_of(cpu: str) -> Decoded:
    """The probe's dump under ``-cpu cpu``: the shipped fixture, else one boot per session."""
    if not needs_boot(cpu):
        return decode(read_dump(str(regenerate.fixture_path(cpu))))
    require_qemu(f"booting -cpu {cpu}")
    return decode(harness.boot(cpu))


@functools.cache
def plan_of(pair: Pair) -> MaskPlan:
    """The plan judging all bits: TCG shows guests what KVM never does (svm, monitor, acpi), and
    the round trip checks that the guest sees nothing beyond the target."""
    return plan_for_hosts(dump_of(pair.source), [dump_of(pair.target)], Policy(all_bits=True))


def cpu_line(text: str) -> str:
    """The ``-cpu`` value of a qemu mask: its last line; every line before it is a comment."""
    *comments, last = text.rstrip("\n").split("\n")
    assert all(line.startswith("#") for line in comments), text
    assert last.startswith("-cpu ") and " " not in last[5:], last
    return last[5:]


def mask_for(pair: Pair) -> str:
    return render(plan_of(pair), "qemu", MaskOptions(qemu_base=pair.source))


def names(features) -> str:
    return ", ".join(sorted(features)) or "none"


# ---- the round trip --------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.id)
def test_tcg_round_trip(probe_kernel, pair: Pair):
    source, target, plan = dump_of(pair.source), dump_of(pair.target), plan_of(pair)
    assert set(plan.lower) == pair.lowered, plan.lower
    cpu = cpu_line(mask_for(pair))
    assert cpu.startswith(pair.source + ",") and cpu.endswith(",enforce")

    result = harness.probe(cpu)  # the line as printed; QemuRejected if QEMU refuses it
    run = result.runs[-1]
    assert run.stderr.strip() == "", f"QEMU warned:\n{run.stderr}"  # enforce: nothing dropped
    assert result.mode == "os" and not result.unsupported
    guest = decode(result.dump)
    assert guest.vendor == source.vendor

    expected = feature_table().close_under_deps(source.features - set(plan.hidden))
    assert guest.features == expected, (
        f"guest has unexpected: {names(guest.features - expected)}; "
        f"guest lacks: {names(expected - guest.features)}")
    assert guest.features <= target.features, f"beyond the target: {names(guest.features - target.features)}"
    shared = source.features & target.features
    assert shared <= guest.features, f"lost what both share: {names(shared - guest.features)}"

    supported = guest.fields.get("xcr0_supported") or 0
    assert not supported & plan.xsave_hidden, f"leaf 0xD still offers {supported & plan.xsave_hidden:#x}"
    if plan.xsave_hidden:
        assert source.fields["xcr0_supported"] & plan.xsave_hidden == plan.xsave_hidden
        cpu0 = result.dump.cpus[0]
        for component in range(2, 64):
            if plan.xsave_hidden >> component & 1:
                assert cpu0.get(0xD, component)[0] == 0, f"0xD.{component} still has a size"
        assert not (cpu0.xcr0 or 0) & plan.xsave_hidden  # the guest enabled all it was offered

    for field in LOWERED:
        mine, theirs = guest.fields.get(field), target.fields.get(field)
        if field in plan.lower:
            assert mine == plan.lower[field] < source.fields[field], field
        assert mine is None or theirs is None or mine <= theirs, (field, mine, theirs)


def test_intel_source_is_max_with_an_intel_vendor(probe_kernel):
    """The Intel VM of the round trips: the `max` fixture's CPU, less AMD-only features."""
    fixture, intel = dump_of("max"), dump_of(INTEL_MAX)
    assert (fixture.vendor, intel.vendor) == ("AuthenticAMD", "GenuineIntel")
    assert intel.features <= fixture.features
    table = feature_table()
    assert {table.by_name[n].vendor for n in fixture.features - intel.features} == {"amd"}


def test_tcg_max_is_amd_so_an_intel_target_needs_an_intel_source():
    from cpucompat.masks.plan import VendorMismatch

    with pytest.raises(VendorMismatch, match="AuthenticAMD but target .*GenuineIntel"):
        plan_for_hosts(dump_of("max"), [dump_of("Haswell-v4")])


def test_enforce_with_a_named_base_trips_on_what_tcg_cannot_emulate(probe_kernel):
    """`enforce` refuses a base model's features TCG lacks (Nehalem-v2: spec-ctrl), none of the
    mask's own; without `enforce` QEMU drops them with a warning and the guest fits the target."""
    pair = PAIRS[0]  # Intel max -> Nehalem-v1
    cpu = cpu_line(render(plan_of(pair), "qemu", MaskOptions(qemu_base="Nehalem-v2")))
    assert cpu.startswith("Nehalem-v2,-") and cpu.endswith(",enforce")
    with pytest.raises(harness.QemuRejected) as caught:
        harness.probe(cpu)
    assert "TCG doesn't support requested features" in caught.value.stderr
    dropped = {item.name for item in harness.parse_unsupported(caught.value.stderr)}
    assert dropped == harness.tcg_unavailable("Nehalem-v2")  # what this QEMU's TCG lacks
    if harness.qemu_release() == (7, 2):
        assert dropped == {"spec-ctrl"} == set(tcg_dropped("Nehalem-v2"))

    lenient = harness.probe(cpu.removesuffix(",enforce"))
    assert {item.name for item in lenient.unsupported} == dropped
    guest = decode(lenient.dump)
    target = dump_of(pair.target)
    assert guest.features <= target.features, names(guest.features - target.features)


def test_host_base_needs_kvm(probe_kernel):
    plan = plan_of(PAIRS[0])
    cpu = cpu_line(render(plan, "qemu", MaskOptions()))
    assert cpu.startswith("host,")
    with pytest.raises(harness.QemuRejected):
        harness.probe(cpu)


def tcg_dropped(model: str) -> list[str]:
    """What the fixture's third line says TCG dropped from a model."""
    line = regenerate.fixture_path(model).read_text(encoding="utf-8").split("\n")[2]
    match = re.fullmatch(r"# TCG dropped: (.*)", line)
    assert match, line
    return [] if match.group(1) == "none" else [w.split(".")[-1].split("[")[0] for w in match.group(1).split()]


# ---- QEMU accepts every name the renderer writes ---------------------------------------

REFERENCE_PAIRS = (
    ("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt", "GenuineIntel0050654_SkylakeXeon_CPUID9.txt"),
    ("GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt", "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt"),
    ("GenuineIntel00606A6_ICX_CPUID3.txt", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt"),
    ("GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", "GenuineIntel00206A7_SandyBridge_CPUID.txt"),
    ("AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt", "AuthenticAMD0830F10_K17_Rome_CPUID2.txt"),
    ("AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt", "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"),
    ("AuthenticAMD0A00F11_K19_Milan_CPUID1.txt", "AuthenticAMD0800F12_K17_Zen_CPUID.txt"),
)


@functools.cache
def qemu_flags() -> frozenset[str]:
    """The CPUID flag names the installed QEMU recognises (``-cpu help``)."""
    out = subprocess.run([harness.QEMU, "-cpu", "help"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return frozenset(out.split("Recognized CPUID flags:", 1)[1].split())


def short(name: str) -> str:
    """``GenuineIntel00806F8_SapphireRapids_05_CPUID.txt`` -> ``SapphireRapids``."""
    parts = name.split("_")
    return parts[2] if re.fullmatch(r"K\d+", parts[1]) else parts[1]


@pytest.mark.parametrize("vm, target", REFERENCE_PAIRS,
                         ids=[f"{short(a)}->{short(b)}" for a, b in REFERENCE_PAIRS])
def test_qemu_accepts_the_names_of_reference_masks(probe_kernel, vm, target):
    """Real hosts hide dozens of features: QEMU parses every `-name` it knows, with `enforce`.

    Names QEMU 7.2 does not know are exactly those the mask's comment lists (features newer
    than QEMU 7.2, which it cannot expose either); the line without them boots.
    """
    plan = plan_for_hosts(instlat(vm), [instlat(target)])
    text = render(plan, "qemu", MaskOptions(qemu_base="max"))
    parts = cpu_line(text).split(",")
    requested = {p[1:] for p in parts if p.startswith("-")}
    unknown = requested - qemu_flags()
    if harness.qemu_release() == (7, 2):
        assert unknown == requested & qemu_format.UNKNOWN_TO_QEMU_7_2
    for name in unknown:
        assert f"-{name}" in text.split("\n-cpu ")[0], f"-{name} not listed in the comment"
    known = ",".join(p for p in parts if p[1:] not in unknown)
    # bare mode: only QEMU's parsing matters here, and XSAVE without XSAVEOPT can hit the
    # QEMU 7.2 TCG CR4.OSXSAVE spin (qemu-guest-probe.md §7.5) that OS mode waits out
    result = harness.probe(known, bare=True)
    assert not result.unsupported and result.runs[-1].stderr.strip() == ""


def test_unknown_to_qemu_7_2_matches_the_installed_qemu(probe_kernel):
    if harness.qemu_release() != (7, 2):
        pytest.skip(f"QEMU {harness.qemu_version()} is not 7.2")
    csv_names = {f.qemu for f in feature_table().features if f.qemu}
    assert qemu_format.UNKNOWN_TO_QEMU_7_2 == csv_names - qemu_flags()


# ---- the text, without QEMU ------------------------------------------------------------


def synthetic_plan(hidden=(), lower=None, xsave_hidden=0, vendor="GenuineIntel") -> MaskPlan:
    """A plan by hand: a qemu64 CPU with AVX2 and more, less ``hidden``."""
    from cpucompat.knowledge.baselines import get

    features = get("qemu64-v1").features | {"avx", "avx2", "xsave", "pku", "dtherm", *hidden}
    return MaskPlan(vm_name="vm1", vm_vendor=vendor, vm_features=features, vm_cpu=None,
                    target_label="t1", target_features=features - set(hidden),
                    hidden=tuple(sorted(hidden)), lacking={n: ["t1"] for n in hidden},
                    xsave_hidden=xsave_hidden, lower=dict(lower or {}))


def test_text_is_the_header_then_one_cpu_line():
    plan = synthetic_plan(hidden=("avx", "avx2"), xsave_hidden=0x4)
    text = render(plan, "qemu", MaskOptions(qemu_base="max"))
    lines = text.rstrip("\n").split("\n")
    header = [f"# {line}" for line in header_lines(plan)]
    assert lines[:len(header)] == header
    assert cpu_line(text) == "max,-avx,-avx2,enforce"
    assert "XSAVE components 0x4 go with the hidden features" in text


def test_qemu_spellings_and_features_qemu_cannot_name():
    plan = synthetic_plan(hidden=("sse4_1", "lahf_lm", "pclmulqdq", "cr8_legacy", "dtherm", "e_fpu"))
    text = render(plan, "qemu", MaskOptions())
    assert cpu_line(text) == "host,-cr8legacy,-lahf-lm,-pclmulqdq,-sse4.1,enforce"
    note = next(line for line in text.splitlines() if "not exposed by QEMU" in line)
    assert note.startswith("# not exposed by QEMU, nothing to do: ")
    assert "dtherm (CPUID.(EAX=0x6,ECX=0):EAX[0])" in note and "e_fpu" in note


def test_features_newer_than_qemu_7_2_are_named_and_listed():
    plan = synthetic_plan(hidden=("avx_vnni_int8", "avx2"))
    text = render(plan, "qemu", MaskOptions())
    assert cpu_line(text) == "host,-avx-vnni-int8,-avx2,enforce"
    assert "# QEMU 7.2 (Debian 12) does not know -avx-vnni-int8:" in text


@pytest.mark.parametrize("base, expected", [
    ("host", "host,-avx2,level=11,xlevel=0x80000008,host-phys-bits=off,phys-bits=39,enforce"),
    ("max", "max,-avx2,level=11,xlevel=0x80000008,host-phys-bits=off,phys-bits=39,enforce"),
    ("Haswell-v4", "Haswell-v4,-avx2,level=11,xlevel=0x80000008,phys-bits=39,enforce"),
    ("max,vendor=GenuineIntel", "max,vendor=GenuineIntel,-avx2,level=11,xlevel=0x80000008,"
                                "host-phys-bits=off,phys-bits=39,enforce"),
    ("max,enforce", "max,enforce,-avx2,level=11,xlevel=0x80000008,host-phys-bits=off,phys-bits=39"),
])
def test_lowered_fields_and_bases(base, expected):
    plan = synthetic_plan(hidden=("avx2",), lower={"max_basic_leaf": 11, "max_extended_leaf": 0x80000008,
                                                   "phys_addr_bits": 39})
    assert cpu_line(render(plan, "qemu", MaskOptions(qemu_base=base))) == expected


def test_nothing_to_hide():
    text = render(synthetic_plan(), "qemu", MaskOptions())
    assert "# hides nothing" in text and cpu_line(text) == "host,enforce"


@pytest.mark.parametrize("base, message", [
    ("Haswel-v4", "did you mean"),
    ("x86-64-v2", "psabi baseline, not a QEMU CPU model"),
    ("intel-haswell", "evc baseline"),
])
def test_bad_bases(base, message):
    with pytest.raises(UsageError, match=message):
        render(synthetic_plan(), "qemu", MaskOptions(qemu_base=base))


# ---- the command line ------------------------------------------------------------------

runner = CliRunner()
FIXTURE = {cpu: str(regenerate.fixture_path(cpu)) for cpu in ("max", "qemu64", "Nehalem-v1", "EPYC-v3")}


def test_cli_writes_the_mask_to_stdout():
    result = runner.invoke(app, ["mask", FIXTURE["max"], "--target", FIXTURE["EPYC-v3"],
                                 "--format", "qemu", "--qemu-base", "max"])
    assert result.exit_code == 0, result.stderr
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["note"]  # what it hides, nothing else
    assert result.stderr.startswith("note: the mask hides ")
    assert "-acpi" not in cpu_line(result.stdout) and "-svme-addr-chk" not in cpu_line(result.stdout)
    result = runner.invoke(app, ["mask", FIXTURE["max"], "--target", FIXTURE["EPYC-v3"],
                                 "--format", "qemu", "--qemu-base", "max", "--all-bits"])
    # the same files through the library, host-only bits too (the files, not a fresh boot: under
    # another QEMU than the fixtures' the booted CPUs differ from the shipped dumps)
    vm, target = (decode(read_dump(FIXTURE[cpu])) for cpu in ("max", "EPYC-v3"))
    plan = plan_for_hosts(vm, [target], Policy(all_bits=True))
    assert cpu_line(result.stdout) == cpu_line(render(plan, "qemu", MaskOptions(qemu_base="max")))


def test_cli_unknown_format_exits_2():
    result = runner.invoke(app, ["mask", FIXTURE["max"], "--target", FIXTURE["EPYC-v3"],
                                 "--format", "qemu-kvm"])
    assert result.exit_code == 2
    assert "qemu-kvm" in result.stderr and result.stdout == ""


def test_cli_mixed_vendors_exit_2_with_one_line():
    result = runner.invoke(app, ["mask", FIXTURE["Nehalem-v1"], "--target", FIXTURE["EPYC-v3"],
                                 "--format", "qemu"])
    assert result.exit_code == 2 and result.stdout == ""
    message = result.stderr.rstrip("\n")
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("error: the VM's CPU is GenuineIntel but target ")
    assert "AuthenticAMD" in message and "cannot change the vendor" in message


def test_cli_target_that_has_everything():
    # qemu64's features are a subset of max's under TCG: nothing to hide
    assert dump_of("qemu64").features <= dump_of("max").features
    result = runner.invoke(app, ["mask", FIXTURE["qemu64"], "--target", FIXTURE["max"],
                                 "--format", "qemu"])
    assert result.exit_code == 0
    assert result.stderr.startswith("nothing to hide: ") and result.stderr.count("\n") == 1
    assert cpu_line(result.stdout) == "host,enforce"


@pytest.mark.parametrize("option", [["--qemu-base", "Haswel-v4"], ["--format", "libvirt", "--libvirt-mode", "passthrough"]])
def test_cli_bad_renderer_options_exit_2(option):
    result = runner.invoke(app, ["mask", FIXTURE["max"], "--target", FIXTURE["EPYC-v3"], *option])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
