"""The named baselines (baselines/*.json) and the loader cpucompat.baselines.

Three groups: the files themselves (schema, formatting, names, dependency closure, parent
links), the loader API, and acceptance against real CPUs and libvirt's model files, which are
read in place from ../shared/reference and skipped cleanly when it is absent.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import defusedxml.ElementTree as ElementTree
import jsonschema
import pytest

from cpucompat.knowledge import baselines
from cpucompat.knowledge.baselines import Baseline, UnknownBaseline
from cpucompat.errors import CpuCompatError
from cpucompat.knowledge.features import feature_table

from ..conftest import EVC_INSTLATX64
from tests.conftest import missing_reference

REPO = Path(__file__).resolve().parents[2]
BASELINE_DIR = REPO / "baselines"
REFERENCE = REPO.parent / "shared" / "reference"
INSTLATX64 = "dumps/instlatx64"
CPUTESTDATA = "libvirt/cputestdata"
CPU_MAP = "libvirt/cpu_map"
#: One file per kind; QEMU's models have one table per QEMU release.
QEMU_VERSIONS = baselines.shipped_qemu_versions()
FILES = {"evc": BASELINE_DIR / "evc.json", "psabi": BASELINE_DIR / "psabi.json",
         **{f"qemu-{v}": BASELINE_DIR / f"qemu-{v}.json" for v in QEMU_VERSIONS}}
#: The newest QEMU table, for the tests of one QEMU table.
QEMU = f"qemu-{QEMU_VERSIONS[-1]}"

#: libvirt cpu_map models that are not upstream QEMU models, so no QEMU table has them.
NOT_QEMU_MODELS = {"pentiumpro", "cpu64-rhel5", "cpu64-rhel6"}
#: libvirt 11.3 models that QEMU 10.0 does not define (dropped from QEMU, or newer than 10.0).
NOT_IN_QEMU_10_0 = {"Icelake-Client", "Icelake-Client-noTSX", "Icelake-Client-v1", "Icelake-Client-v2",
                    "Icelake-Client-v3"}
#: QEMU 10.0 model versions newer than libvirt 11.3's map.
NOT_IN_LIBVIRT_11_3 = {"YongFeng-v1", "YongFeng-v2", "SierraForest-v2", "ClearwaterForest-v1"}


#: The same for libvirt's raw CPUID dumps (tests/cputestdata/x86_64-cpuid-<CPU>.xml).
EVC_LIBVIRT = {
    "Core2-E6850": "intel-merom",
    "Xeon-X5460": "intel-penryn",
    "Xeon-W3520": "intel-nehalem",
    # Dumps without the 2018 microcode's IBRS/IBPB, STIBP, SSBD and L1D flush (CPUID 7 EDX 26-28, 31),
    # which vCenter's Westmere and later masks expose, stop at Nehalem; without MD_CLEAR (MDS microcode,
    # vCenter's Sandy Bridge mask) at Westmere.
    "Core-i5-650": "intel-nehalem",
    "Xeon-E7-4820": "intel-nehalem",
    "Pentium-P6100": "intel-merom",  # Westmere Pentium with SSE4.x and AES-NI fused off
    "Core-i5-2500": "intel-nehalem",
    "Core-i7-2600": "intel-nehalem",
    "Core-i7-2600-xsaveopt": "intel-nehalem",
    "Core-i7-3520M": "intel-nehalem",
    "Core-i7-3770": "intel-nehalem",
    "Core-i5-4670T": "intel-nehalem",
    "Core-i7-4600U": "intel-nehalem",
    "Xeon-E5-2609-v3": "intel-nehalem",  # has IBRS/IBPB and STIBP, but no SSBD nor L1D flush
    "Xeon-E5-2650-v3": "intel-nehalem",
    "Core-i7-5600U": "intel-nehalem",
    "Xeon-E5-2623-v4": "intel-nehalem",  # has IBRS/IBPB and STIBP, but no SSBD nor L1D flush
    "Xeon-E5-2650-v4": "intel-nehalem",
    "Core-i5-6600": "intel-nehalem",
    "Xeon-E3-1245-v5": "intel-nehalem",
    "Xeon-Gold-6130": "intel-skylake",
    "Xeon-Gold-6148": "intel-nehalem",
    "Xeon-Platinum-8268": "intel-cascadelake",
    "Ice-Lake-Server": "intel-westmere",  # all but MD_CLEAR
    "Opteron-2350": "amd-greyhound",
    "Phenom-B95": None,  # NX disabled by the firmware
    "Opteron-6234": "amd-bulldozer",
    "A10-5800K": "amd-piledriver",
    "EPYC-7601-32-Core": "amd-zen",
    "Ryzen-7-1800X-Eight-Core": "amd-zen",
    "EPYC-7502-32-Core": "amd-zen2",
    "Hygon-C86-7185-32-core": None,
}

#: Highest x86-64 psABI level of a few InstLatx64 dumps.
PSABI_INSTLATX64 = {
    "GenuineIntel00006F6_Merom_CPUID.txt": "x86-64",
    "GenuineIntel00206A7_SandyBridge_CPUID.txt": "x86-64-v2",
    "GenuineIntel00306F2_HaswellEP_00_CPUID.txt": "x86-64-v3",
    "GenuineIntel0050654_SkylakeXeon_CPUID9.txt": "x86-64-v4",
    "AuthenticAMD0100F42_K10_Shanghai_CPUID.txt": "x86-64",
    "AuthenticAMD0600F12_K15_Interlagos_CPUID3.txt": "x86-64-v2",
    "AuthenticAMD0800F12_K17_Zen_CPUID.txt": "x86-64-v3",
    "AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt": "x86-64-v4",
}


def reference(relative: str) -> Path:
    """A path under ../shared/reference; a clean skip when it is not there."""
    if not REFERENCE.is_dir():
        missing_reference()
    path = REFERENCE / relative
    if not path.exists():
        pytest.skip(f"../shared/reference/{relative} not available")
    return path


def document(kind: str) -> dict:
    return json.loads(FILES[kind].read_text(encoding="utf-8"))


def entries(kind: str) -> list[dict]:
    return document(kind)["baselines"]


def all_entries() -> list[tuple[str, dict]]:
    return [(kind, entry) for kind in FILES for entry in entries(kind)]


def kind_of(name: str) -> str:
    """The baseline kind of a file key: ``qemu-7.2`` holds kind ``qemu``."""
    return name.split("-")[0]


# --- the files -------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = json.loads((BASELINE_DIR / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("kind", FILES)
def test_file_matches_schema_and_its_kind(kind):
    schema = json.loads((BASELINE_DIR / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document(kind))
    assert document(kind)["kind"] == kind_of(kind)


def test_the_qemu_tables_are_the_ones_shipped():
    assert {"7.2", "10.0"} <= set(QEMU_VERSIONS)
    assert not (BASELINE_DIR / "qemu.json").exists()  # libvirt's stale copy is gone
    for version in QEMU_VERSIONS:
        assert document(f"qemu-{version}")["qemu"]["version"].startswith(f"{version}.")


@pytest.mark.parametrize("name", ["schema.json", *(path.name for path in FILES.values())])
def test_file_is_canonically_formatted(name):
    text = (BASELINE_DIR / name).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("version", QEMU_VERSIONS)
def test_keys_are_unique_across_the_files_loaded_together(version):
    loaded = ["evc", "psabi", f"qemu-{version}"]
    keys = [entry["key"] for kind in loaded for entry in entries(kind)]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("kind", FILES)
def test_feature_lists_are_sorted(kind):
    for entry in entries(kind):
        for field in ("features", "removes", "unmet_dependencies", "libvirt_removed", "msr_features"):
            values = entry.get(field, [])
            assert values == sorted(set(values)), (entry["key"], field)


@pytest.mark.parametrize("kind", FILES)
def test_every_feature_name_is_canonical(kind):
    known = feature_table().by_name
    for entry in entries(kind):
        named = [*entry["features"], *entry.get("removes", []), *entry.get("libvirt_removed", []),
                 *(item["feature"] for item in entry.get("left_out", []))]
        assert sorted(set(named) - set(known)) == [], entry["key"]


@pytest.mark.parametrize("kind", FILES)
def test_features_are_closed_under_dependencies(kind):
    """Every feature comes with what it depends on, except where a QEMU model documents otherwise."""
    requires = feature_table().requires
    for entry in entries(kind):
        features = set(entry["features"])
        unmet = sorted(name for name in features if not requires.get(name, frozenset()) <= features)
        assert unmet == entry.get("unmet_dependencies", []), entry["key"]
    assert kind_of(kind) == "qemu" or not any("unmet_dependencies" in entry for entry in entries(kind))


@pytest.mark.parametrize("kind", ["evc", "psabi"])
def test_evc_and_psabi_require_only_cpu_features(kind):
    """No OS-dependent, security/mitigation, virtualisation or informational bits, but for what a
    vCenter capture shows an EVC mode exposing (MWAIT, DS, SS, VMX, the speculation controls)."""
    table = feature_table()
    for entry in entries(kind):
        kinds = {name: table.by_name[name].kind for name in entry["features"]}
        captured = {n for n, source in entry.get("provenance", {}).items() if source == "capture"}
        assert {n: k for n, k in kinds.items() if k != "isa" and n not in captured} == {}, entry["key"]
        assert "os" not in kinds.values(), entry["key"]


@pytest.mark.parametrize("kind", FILES)
def test_left_out_features_are_not_required(kind):
    for entry in entries(kind):
        assert not {i["feature"] for i in entry.get("left_out", [])} & set(entry["features"]), entry["key"]


@pytest.mark.parametrize("kind", FILES)
def test_parents_exist_in_the_same_file_with_the_same_vendor(kind):
    by_key = {entry["key"]: entry for entry in entries(kind)}
    for entry in entries(kind):
        if entry["parent"] is not None:
            assert entry["parent"] in by_key, entry["key"]
            assert by_key[entry["parent"]]["vendor"] == entry["vendor"], entry["key"]


@pytest.mark.parametrize("kind", FILES)
def test_child_keeps_its_parents_features_except_documented_removals(kind):
    by_key = {entry["key"]: entry for entry in entries(kind)}
    for entry in entries(kind):
        if entry["parent"] is None:
            assert "removes" not in entry, entry["key"]
            continue
        dropped = set(by_key[entry["parent"]]["features"]) - set(entry["features"])
        assert sorted(dropped) == entry.get("removes", []), entry["key"]


@pytest.mark.parametrize("kind", ["evc", "psabi"])
def test_evc_modes_and_psabi_levels_are_strict_supersets(kind):
    by_key = {entry["key"]: entry for entry in entries(kind)}
    for entry in entries(kind):
        if entry["parent"] is not None:
            assert set(by_key[entry["parent"]]["features"]) < set(entry["features"]), entry["key"]


@pytest.mark.parametrize("kind", FILES)
def test_levels_increase_along_parent_links(kind):
    by_key = {entry["key"]: entry for entry in entries(kind)}
    for entry in entries(kind):
        if entry["parent"] is not None:
            assert by_key[entry["parent"]]["level"] < entry["level"], entry["key"]


@pytest.mark.parametrize("kind", FILES)
def test_levels_are_unique_among_what_one_cpu_can_match(kind):
    """One level per vendor, vendor-neutral baselines included, so 'highest' is never a tie."""
    for vendor in {entry["vendor"] for entry in entries(kind)}:
        levels = [e["level"] for e in entries(kind) if e["vendor"] in (vendor, None)]
        assert len(levels) == len(set(levels)), vendor


def test_evc_modes_are_vmware_keys_in_level_order():
    intel = [e["key"] for e in entries("evc") if e["vendor"] == "GenuineIntel"]
    amd = [e["key"] for e in entries("evc") if e["vendor"] == "AuthenticAMD"]
    assert intel[:9] == ["intel-merom", "intel-penryn", "intel-nehalem", "intel-westmere", "intel-sandybridge",
                         "intel-ivybridge", "intel-haswell", "intel-broadwell", "intel-skylake"]
    assert amd[:8] == ["amd-rev-e", "amd-rev-f", "amd-greyhound-no3dnow", "amd-greyhound", "amd-bulldozer",
                       "amd-piledriver", "amd-steamroller", "amd-zen"]
    by_key = {e["key"]: e for e in entries("evc")}
    assert by_key["amd-bulldozer"]["parent"] == "amd-greyhound-no3dnow"  # the B track starts at A2 = B0
    assert all(e["notes"] and e["reconstructed"] == (not e.get("captures")) for e in entries("evc"))


def test_psabi_levels_are_the_documented_lists():
    by_key = {e["key"]: set(e["features"]) for e in entries("psabi")}
    # psABI v1: CMOV, CX8, FPU, FXSR, MMX, OSFXSR (an OS setting), SCE (syscall), SSE, SSE2; plus lm
    assert by_key["x86-64"] == {"cmov", "cx8", "fpu", "fxsr", "mmx", "sse", "sse2", "syscall", "lm"}
    assert by_key["x86-64-v2"] - by_key["x86-64"] == {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "pni", "ssse3"}
    assert by_key["x86-64-v3"] - by_key["x86-64-v2"] == {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm",
                                                         "movbe", "xsave"}
    assert by_key["x86-64-v4"] - by_key["x86-64-v3"] == {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


@pytest.mark.parametrize("version", QEMU_VERSIONS)
def test_qemu_models_have_versioned_names_and_version_parents(version):
    by_key = {e["key"]: e for e in entries(f"qemu-{version}")}
    for key, entry in by_key.items():
        assert entry["qemu_name"] == key
        base, version = key.rsplit("-v", 1)
        expected = f"{base}-v{int(version) - 1}" if int(version) > 1 else None
        assert entry["parent"] == expected, key


@pytest.mark.parametrize("version", QEMU_VERSIONS)
def test_qemu_msr_features_and_other_properties_are_not_cpuid_features(version):
    qemu_cpuid = feature_table().by_vocabulary["qemu"]
    for entry in entries(f"qemu-{version}"):
        assert not set(entry["msr_features"]) & set(qemu_cpuid), entry["key"]
        assert not set(entry["other_properties"]) & set(qemu_cpuid), entry["key"]
        assert all(qemu_cpuid[p].leaf >> 8 == 0x400000 for p in entry["paravirt"] if p in qemu_cpuid), entry["key"]


@pytest.mark.parametrize("version", QEMU_VERSIONS)
def test_qemu_kvm_view_follows_qemus_kvm_defaults(version):
    """Under KVM named models lose svm (and with it every 0x8000000A bit), monitor and acpi, and gain x2apic."""
    for entry in entries(f"qemu-{version}"):
        features = set(entry["features"])
        assert not features & {"svm", "monitor", "acpi", "npt", "nrip_save"}, entry["key"]
        assert {"x2apic", "hypervisor"} <= features, entry["key"]
        assert entry["cpuid"]["phys_bits"] == (40 if "lm" in features else 36 if {"pae", "pse36"} & features else 32)


def test_qemu_tables_have_qemus_own_definitions_not_libvirts():
    """The facts libvirt's cpu_map got wrong (issue 8), as QEMU 7.2 and 10.0 define them."""
    for version in ("7.2", "10.0"):
        by_key = {e["key"]: set(e["features"]) for e in entries(f"qemu-{version}")}
        assert {"abm", "f16c", "rdrand", "xsaveopt"} <= by_key["Haswell-v1"] & by_key["Broadwell-v1"]
        assert "xsaveopt" in by_key["SandyBridge-v1"] & by_key["IvyBridge-v1"]
        assert "pclmulqdq" in by_key["Westmere-v1"]
        assert "pku" in by_key["Skylake-Server-v1"]
        assert all("topoext" in by_key[k] for k in by_key if k.startswith("EPYC"))
        assert "svm" not in by_key["qemu64-v1"]


# --- the loader ------------------------------------------------------------------------


def test_load_baselines_by_kind_and_all():
    qemu = f"qemu-{baselines.qemu_selection().version}"
    for kind in baselines.KINDS:
        loaded = baselines.load_baselines(kind)
        assert [b.key for b in loaded] == [e["key"] for e in entries(qemu if kind == "qemu" else kind)]
        assert all(isinstance(b, Baseline) and b.kind == kind for b in loaded)
    assert len(baselines.load_baselines()) == sum(len(entries(k)) for k in ("evc", "psabi", qemu))
    assert len(set(baselines.load_baselines())) == len(baselines.load_baselines())  # hashable, distinct


def test_load_baselines_rejects_an_unknown_kind():
    with pytest.raises(CpuCompatError, match="unknown baseline kind"):
        baselines.load_baselines("vmware")


def test_get_by_key_and_by_libvirt_name():
    assert baselines.get("intel-haswell").label == 'Intel "Haswell" Generation'
    assert baselines.get("x86-64-v3").vendor is None
    assert baselines.get("Skylake-Server-IBRS").key == "Skylake-Server-v2"
    assert baselines.get("Nehalem").key == "Nehalem-v1"


def test_get_unknown_key_suggests_close_names():
    with pytest.raises(UnknownBaseline) as caught:
        baselines.get("intel-haswel")
    assert isinstance(caught.value, CpuCompatError) and isinstance(caught.value, KeyError)
    assert "intel-haswell" in str(caught.value)
    assert str(caught.value).startswith("unknown baseline 'intel-haswel'")


def test_missing_for_lists_what_a_host_lacks():
    haswell = baselines.get("intel-haswell")
    assert baselines.missing_for(haswell, haswell.features) == []
    assert baselines.missing_for(haswell, haswell.features - {"avx2", "fma"}) == ["avx2", "fma"]


def test_highest_satisfied_picks_the_top_mode_of_the_vendor():
    haswell = baselines.get("intel-haswell").features
    assert baselines.highest_satisfied(haswell, "GenuineIntel", "evc").key == "intel-haswell"
    assert baselines.highest_satisfied(haswell - {"avx2"}, "GenuineIntel", "evc").key == "intel-ivybridge"
    assert baselines.highest_satisfied(haswell, "AuthenticAMD", "evc") is None  # no AMD MMX extensions
    assert baselines.highest_satisfied(haswell, "GenuineIntel", "psabi").key == "x86-64-v3"
    assert baselines.highest_satisfied(haswell, "HygonGenuine", "psabi").key == "x86-64-v3"
    assert baselines.highest_satisfied({"fpu", "sse"}, "GenuineIntel", "evc") is None


def test_parent_of_walks_back_to_the_root():
    chain, baseline = [], baselines.get("x86-64-v4")
    while baseline is not None:
        chain.append(baseline.key)
        baseline = baselines.parent_of(baseline)
    assert chain == ["x86-64-v4", "x86-64-v3", "x86-64-v2", "x86-64"]


# --- acceptance against real CPUs ------------------------------------------------------


@cache
def decoded(path: Path):
    from cpucompat.decode import decode
    from cpucompat.formats.reader import read_dump

    return decode(read_dump(path))


def highest(path: Path, kind: str) -> str | None:
    host = decoded(path)
    best = baselines.highest_satisfied(host.features, host.vendor, kind)
    return best.key if best else None


@pytest.mark.parametrize(("name", "expected"), EVC_INSTLATX64.items())
def test_evc_mode_of_instlatx64_cpus_is_their_generation(name, expected):
    assert highest(reference(f"{INSTLATX64}/{name}"), "evc") == expected


@pytest.mark.parametrize(("cpu", "expected"), EVC_LIBVIRT.items())
def test_evc_mode_of_libvirt_cpus_is_their_generation(cpu, expected):
    assert highest(reference(f"{CPUTESTDATA}/x86_64-cpuid-{cpu}.xml"), "evc") == expected


@pytest.mark.parametrize(("name", "expected"), PSABI_INSTLATX64.items())
def test_psabi_level_of_instlatx64_cpus(name, expected):
    assert highest(reference(f"{INSTLATX64}/{name}"), "psabi") == expected


# --- QEMU models against libvirt's cpu_map, read independently ---------------------------


@cache
def libvirt_feature_locations() -> dict[str, str]:
    """libvirt feature name -> 'cpuid' or 'msr', from x86_features.xml."""
    root = ElementTree.parse(reference(f"{CPU_MAP}/x86_features.xml")).getroot()
    return {f.get("name"): "cpuid" if f.find("cpuid") is not None else "msr" for f in root.iter("feature")}


@cache
def libvirt_model(name: str) -> frozenset[str]:
    """A model's feature data, ancestors resolved; removed='yes' and added='yes' are not data."""
    model = ElementTree.parse(reference(f"{CPU_MAP}/x86_{name}.xml")).getroot().find("model")
    ancestor = model.find("model")
    data = set(libvirt_model(ancestor.get("name"))) if ancestor is not None else set()
    for feature in model.findall("feature"):
        if feature.get("removed") != "yes" and feature.get("added") != "yes":
            data.add(feature.get("name"))
    return frozenset(data)


def libvirt_view(entry: dict) -> tuple[set[str], set[str]]:
    """(CPUID features in canonical names, MSR feature names) of the libvirt model of a table entry."""
    data = libvirt_model(entry["libvirt_name"])
    where = libvirt_feature_locations()
    libvirt_names = feature_table().by_vocabulary["libvirt"]
    return ({libvirt_names[name].name for name in data if where[name] == "cpuid"},
            {name for name in data if where[name] == "msr"})


#: What libvirt's map gives a model that QEMU's KVM view does not: QEMU's KVM defaults turn off
#: svm, with it every 0x8000000A bit (QEMU feature_dependencies), and monitor.
KVM_TURNS_OFF = {"svm", "monitor"} | {f.name for f in feature_table().by_location[(0x8000000A, 0, "edx")]}
#: libvirt's own errors: features libvirt gives a model that QEMU 10.0 never defined for it.
LIBVIRT_ONLY = {"Opteron_G2-v1": {"rdtscp"}}


@pytest.mark.parametrize("key", [e["key"] for e in entries(QEMU)])
def test_libvirts_stale_map_differs_from_qemu_only_by_missing_features_and_kvm_defaults(key):
    """libvirt's cpu_map is a second-hand copy: it may lack what QEMU defines (abm, f16c, rdrand,
    xsaveopt on Haswell ...) and keeps what QEMU turns off under KVM, nothing else. Its vmx-*
    MSR features QEMU clears with vmx (feature_dependencies) where the model has no vmx."""
    entry = {e["key"]: e for e in entries(QEMU)}[key]
    if key in NOT_IN_LIBVIRT_11_3:
        assert not (reference(CPU_MAP) / f"x86_{entry['libvirt_name']}.xml").exists()
        return
    cpuid, msr = libvirt_view(entry)
    assert cpuid - set(entry["features"]) - KVM_TURNS_OFF == LIBVIRT_ONLY.get(key, set()), key
    if "vmx" not in entry["features"]:
        msr = {name for name in msr if not name.startswith("vmx-")}
    assert msr <= set(entry["msr_features"]) | set(entry["other_properties"]), key


def test_every_qemu_model_in_libvirts_map_is_listed():
    models = {p.name[4:-4] for p in reference(CPU_MAP).glob("x86_*.xml")} - {"features", "vendors"}
    listed = {name for e in entries(QEMU) for name in (e["libvirt_name"], *e.get("libvirt_aliases", []))}
    assert models - listed <= NOT_QEMU_MODELS | NOT_IN_QEMU_10_0
    assert NOT_QEMU_MODELS <= models - listed
