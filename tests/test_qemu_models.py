"""QEMU's models as QEMU defines them: the shipped tables are what the generator writes for the
installed QEMU, the table in use is chosen and named, and a QEMU model standing in for SOURCE
lists as missing exactly its KVM definition less what KVM emulates and what the host has.
"""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cache

import pytest
from typer.testing import CliRunner

from cpucompat.knowledge import baselines
from cpucompat.cli import app
from cpucompat.decode import decode
from cpucompat.errors import CpuCompatError
from cpucompat.knowledge.features import feature_table
from cpucompat.formats.reader import read_dump

from .conftest import REPO, REQUIRE_QEMU_ENV, reference

runner = CliRunner()
VERSIONS = baselines.shipped_qemu_versions()

#: The acceptance models (versions by QEMU's pc/q35 alias resolution: -v1).
MODELS = ("Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell", "Broadwell", "Skylake-Client",
          "Skylake-Server", "Cascadelake-Server", "Icelake-Server", "Opteron_G3", "Opteron_G4", "Opteron_G5",
          "EPYC", "EPYC-Rome", "EPYC-Milan", "qemu64")


@cache
def generator():
    spec = importlib.util.spec_from_file_location("gen_qemu_models", REPO / "scripts" / "gen_qemu_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(version: str) -> dict:
    return json.loads((REPO / "baselines" / f"qemu-{version}.json").read_text(encoding="utf-8"))


def without_provenance(document: dict) -> dict:
    """A table less what names the exact QEMU build (a Debian point release changes only that)."""
    rest = {k: v for k, v in document.items() if k not in ("qemu", "description")}
    rest["baselines"] = [{k: v for k, v in e.items() if k != "sources"} for e in document["baselines"]]
    return rest


@pytest.fixture(autouse=True)
def default_selection():
    yield
    baselines.select_qemu()


# --- the generator against the installed QEMU --------------------------------------------


def installed_table() -> str:
    installed = baselines.installed_qemu_version()
    if installed is None:
        if os.environ.get(REQUIRE_QEMU_ENV, "") not in ("", "0"):
            pytest.fail(f"qemu-system-x86_64 is not installed, and {REQUIRE_QEMU_ENV} is set")
        pytest.skip("qemu-system-x86_64 is not installed")
    release = ".".join(installed.split(".")[:2])
    if release not in VERSIONS:
        pytest.fail(f"no baselines/qemu-{release}.json for the installed QEMU {installed}: "
                    "run scripts/gen_qemu_models.py")
    return release


def test_regenerating_for_the_installed_qemu_changes_nothing():
    release = installed_table()
    gen = generator()
    shipped = table(release)
    # without KVM: the KVM view from QEMU's KVM defaults (the vme bit TCG hides comes from the table)
    derived = gen.build(gen.measure(["qemu-system-x86_64"], use_kvm=False, previous=shipped))
    assert without_provenance(derived) == without_provenance(shipped)
    assert derived["qemu"]["version"].startswith(release + ".")


def test_kvm_defaults_explain_what_qemu_does_under_kvm():
    """Where -accel kvm starts, its expansion equals the derived KVM view bit for bit."""
    release = installed_table()
    gen = generator()
    measured = gen.measure(["qemu-system-x86_64"], use_kvm=True, previous=None)
    if not measured["kvm_measured"]:
        pytest.skip("-accel kvm does not start here (no usable /dev/kvm)")
    assert without_provenance(gen.build(measured)) == without_provenance(table(release))


def test_consumer_names_list_what_the_installed_qemu_lacks():
    """data/consumer-names.csv's qemu-<release> rows are what the generator finds missing."""
    release = installed_table()
    rows = [line.split(",") for line in (REPO / "data" / "consumer-names.csv").read_text().splitlines()
            if line.startswith(f"qemu-{release},")]
    if not rows:
        pytest.skip(f"data/consumer-names.csv has no qemu-{release} rows")
    assert sorted(name for _, _, name in rows) == generator().unknown_feature_names(["qemu-system-x86_64"])


# --- choosing the table --------------------------------------------------------------------


def test_default_is_the_installed_release_else_the_newest_shipped():
    selection = baselines.select_qemu()
    installed = baselines.installed_qemu_version()
    if installed and ".".join(installed.split(".")[:2]) in VERSIONS:
        assert installed.startswith(selection.version + ".")
    elif installed is None:
        assert selection.version == VERSIONS[-1]
    assert selection.accel == "kvm"


@pytest.mark.parametrize("version", VERSIONS)
def test_select_loads_that_release(version):
    baselines.select_qemu(version)
    models = baselines.load_baselines("qemu")
    assert [m.key for m in models] == [e["key"] for e in table(version)["baselines"]]
    assert all(m.qemu == (version, "kvm") for m in models)
    assert baselines.get("Haswell").key == "Haswell-v1"


def test_unknown_release_and_accel_are_errors():
    with pytest.raises(CpuCompatError, match="no QEMU 1.0 table"):
        baselines.select_qemu("1.0")
    with pytest.raises(CpuCompatError, match="unknown accelerator"):
        baselines.select_qemu(None, "hvf")


def test_kvm_view_requires_no_emulated_feature_and_tcg_view_is_what_tcg_gives():
    baselines.select_qemu(VERSIONS[0], "kvm")
    kvm = baselines.get("Haswell-v4")
    assert {"x2apic", "hypervisor", "tsc_deadline_timer"} <= kvm.emulated <= kvm.features
    assert not kvm.required & feature_table().emulated()
    baselines.select_qemu(VERSIONS[0], "tcg")
    tcg = baselines.get("Haswell-v4")
    entry = next(e for e in table(VERSIONS[0])["baselines"] if e["key"] == "Haswell-v4")
    assert tcg.features == (kvm.features - set(entry["tcg"]["removes"])) | set(entry["tcg"]["adds"])
    assert "vme" not in tcg.features and not tcg.emulated  # TCG turns vme off on named models


def test_guest_fields_of_a_model():
    baselines.select_qemu(VERSIONS[-1])
    fields = baselines.guest_fields(baselines.get("Skylake-Server-v1"))
    assert fields["phys_addr_bits"] == 40
    assert fields["xcr0_supported"] == 0x2E7  # x87 SSE AVX, AVX-512 (5-7), PKRU
    assert baselines.guest_fields(baselines.get("Nehalem-v1"))["xcr0_supported"] == 0  # no xsave
    assert baselines.guest_fields(baselines.get("intel-haswell")) == {}


@pytest.mark.parametrize("command", ["baseline", "compare"])
def test_cli_names_the_table_in_json_and_on_stderr(command):
    dump = str(reference("dumps", "instlatx64", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt"))
    args = [command, *(["--qemu-model", "Haswell"] if command == "compare" else []), dump]
    as_json = runner.invoke(app, [*args, "--json", "--qemu-version", VERSIONS[0]])
    assert json.loads(as_json.stdout)["qemu_version"] == VERSIONS[0]
    text = runner.invoke(app, [*args, "--qemu-version", VERSIONS[-1], "--accel", "tcg"])
    assert f"note: QEMU models: QEMU {VERSIONS[-1]} (--qemu-version), tcg view" in text.stderr
    bad = runner.invoke(app, [*args, "--qemu-version", "0.9"])
    assert bad.exit_code == 2 and "no QEMU 0.9 table" in bad.stderr


# --- acceptance: a QEMU model against real hosts -------------------------------------------------


def reference_hosts() -> list:
    folder = reference("dumps", "instlatx64")
    return sorted(p for p in folder.glob("*.txt") if p.name.startswith(("GenuineIntel", "AuthenticAMD")))


@cache
def decoded(path):
    return decode(read_dump(path))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("model", MODELS)
def test_a_model_as_source_misses_exactly_its_kvm_definition_less_what_the_host_has(version, model):
    hosts = reference_hosts()
    entry = next(e for e in table(version)["baselines"] if model in e["qemu_aliases"])
    table_ = feature_table()
    # QEMU's definition under KVM, less what KVM emulates on every host and the host-only bits
    # the guest-visibility policy never counts
    needed = set(entry["features"]) - table_.emulated() - table_.host_only()
    result = runner.invoke(app, ["compare", "--qemu-model", model, *map(str, hosts), "--json",
                                 "--qemu-version", version])
    document = json.loads(result.stdout)
    assert document["source"] == entry["key"] and document["qemu_version"] == version
    assert any("host-phys-bits" in note for note in document["notes"])
    for host, verdict in zip(hosts, document["targets"], strict=True):
        expected = sorted(needed - decoded(host).features)
        assert [m["name"] for m in verdict["missing"]] == expected, host.name
        if expected:  # never "compatible" where QEMU would refuse (enforce) or drop features
            assert verdict["verdict"] == "incompatible", host.name
        phys = decoded(host).fields.get("phys_addr_bits")
        if phys is not None and phys < 40:
            assert verdict["lower"]["phys_addr_bits"] == {"source": 40, "target": phys}, host.name
    assert result.exit_code == (1 if any(t["verdict"] == "incompatible" for t in document["targets"]) else 0)


def test_qemu64_runs_on_an_intel_host_and_haswell_on_a_haswell():
    """qemu64 has svm only under TCG; the Haswell-EP dump has no TSX (microcode), so Haswell-noTSX."""
    haswell = reference("dumps", "instlatx64", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt")
    for version in VERSIONS:
        for model in ("qemu64", "Haswell-noTSX", "SandyBridge", "IvyBridge"):
            result = runner.invoke(app, ["compare", "--qemu-model", model, str(haswell), "--json",
                                         "--qemu-version", version])
            assert result.exit_code == 0, (version, model, result.stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_baseline_names_sandybridge_only_with_xsaveopt(version):
    """QEMU's SandyBridge has xsaveopt (libvirt's stale map had not): libvirt's Core-i7-2600 dump
    without XSAVEOPT gets Westmere, the one with it SandyBridge."""
    names = {}
    for cpu in ("Core-i7-2600", "Core-i7-2600-xsaveopt"):
        dump = reference("libvirt", "cputestdata", f"x86_64-cpuid-{cpu}.xml")
        assert ("xsaveopt" in decoded(dump).features) == (cpu == "Core-i7-2600")
        result = runner.invoke(app, ["baseline", str(dump), "--json", "--qemu-version", version])
        names[cpu] = json.loads(result.stdout)["qemu_model"]
    assert names == {"Core-i7-2600": "SandyBridge-v1", "Core-i7-2600-xsaveopt": "Westmere-v1"}
