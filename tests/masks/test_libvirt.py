"""The libvirt mask format, proved by libvirt 9.0 itself (Debian 12; libvirt-qemu.md §7).

Every generated ``<cpu>`` (each QEMU round-trip pair of test_qemu.py and a few reference-dump
pairs, both modes) is wrapped in a minimal ``<domain type='kvm'>`` and must

- validate against libvirt's schema: ``virt-xml-validate FILE domain``;
- define on ``test:///default`` (python3-libvirt under /usr/bin/python3, not the venv);
- use only names libvirt knows: ``test:///default`` accepts any name on define, so the model,
  vendor and every feature name also go through libvirt's CPU driver
  (``baselineCPU`` of the same CPU as a host CPU), which refuses unknown models and features;
- in mode custom, mean exactly the VM's kept CPU: the model expanded by libvirt's own cpu_map
  (``VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES``) plus the required features, minus the disabled
  ones, equals the kept features libvirt 9.0 can name.

Skips only when libvirt's tools are absent; with CPUCOMPAT_REQUIRE_QEMU or
CPUCOMPAT_REQUIRE_LIBVIRT set (CI) that is a failure instead.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cpucompat.errors import UsageError
from cpucompat.knowledge.baselines import load_baselines
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import MaskOptions, MaskPlan, plan_for_hosts, render
from cpucompat.masks import libvirt as libvirt_format
from cpucompat.masks.plan import header_lines
from ..conftest import reference
from .conftest import decoded, instlat
from .test_qemu import PAIRS, REFERENCE_PAIRS, Pair, dump_of, short, synthetic_plan

REQUIRE_ENVS = ("CPUCOMPAT_REQUIRE_LIBVIRT", "CPUCOMPAT_REQUIRE_QEMU")
SYSTEM_PYTHON = "/usr/bin/python3"
CPU_MAP = Path("/usr/share/libvirt/cpu_map")
MODES = ("custom", "host-passthrough")

#: Runs under the system Python with python3-libvirt: validate, define, ask the CPU driver.
ORACLE = r"""
import json, os, subprocess, sys, tempfile
import libvirt
libvirt.registerErrorHandler(lambda *args: None, None)
conn = libvirt.open("test:///default")
results = {}
for key, case in json.load(sys.stdin).items():
    result = results[key] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as handle:
        handle.write(case["domain"])
    done = subprocess.run(["virt-xml-validate", handle.name, "domain"], capture_output=True, text=True)
    os.unlink(handle.name)
    result["validate"] = [done.returncode, (done.stdout + done.stderr).strip()]
    try:
        domain = conn.defineXML(case["domain"])
        result["defined"] = domain.XMLDesc(0)
        domain.undefine()
    except libvirt.libvirtError as exc:
        result["define_error"] = str(exc)
    try:
        result["expanded"] = conn.baselineCPU(
            [case["host_cpu"]], libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
    except libvirt.libvirtError as exc:
        result["cpu_error"] = str(exc)
json.dump(results, sys.stdout)
"""


def libvirt_missing() -> str | None:
    """Why libvirt cannot be asked here, or None."""
    for tool in ("virsh", "virt-xml-validate"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (libvirt-clients)"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} missing"
    done = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, text=True)
    if done.returncode != 0:
        return "python3-libvirt not installed"
    return None


@pytest.fixture(scope="module")
def libvirt_tools():
    missing = libvirt_missing()
    if missing:
        required = [env for env in REQUIRE_ENVS if os.environ.get(env, "") not in ("", "0")]
        if required:
            pytest.fail(f"{missing}, and {required[0]} is set")
        pytest.skip(missing)


# ---- the cases ---------------------------------------------------------------------------


def pair_plan(pair: Pair) -> MaskPlan:
    return plan_for_hosts(dump_of(pair.source), [dump_of(pair.target)])


def reference_plan(vm: str, target: str) -> MaskPlan:
    return plan_for_hosts(instlat(vm), [instlat(target)])


CASES = {
    **{f"{pair.id}/{mode}": (pair, mode) for pair in PAIRS for mode in MODES},
    **{f"{short(vm)}->{short(target)}/{mode}": ((vm, target), mode)
       for vm, target in REFERENCE_PAIRS for mode in MODES},
}


def plan_of_case(key: str) -> MaskPlan:
    source, _ = CASES[key]
    return pair_plan(source) if isinstance(source, Pair) else reference_plan(*source)


def domain_xml(name: str, cpu_text: str) -> str:
    body = "\n".join(f"  {line}" for line in cpu_text.rstrip("\n").split("\n"))
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n  <memory unit='MiB'>64</memory>\n"
            f"  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n{body}\n</domain>\n")


def parse_cpu(text: str) -> ET.Element:
    """The <cpu> element of a mask (a comment, then <cpu>: one well-formed document)."""
    root = ET.fromstring(text)
    assert root.tag == "cpu"
    return root


def features(cpu: ET.Element, policy: str) -> set[str]:
    return {f.get("name") for f in cpu.findall("feature") if f.get("policy", "require") == policy}


def host_cpu(cpu: ET.Element) -> str:
    """The same CPU as a host CPU definition, which libvirt's CPU driver checks and expands;
    disabled names are listed too, so that an unknown one is refused."""
    model = cpu.findtext("model") or "qemu64"
    parts = ["<cpu>", "<arch>x86_64</arch>", f"<model>{model}</model>"]
    if cpu.findtext("vendor"):
        parts.append(f"<vendor>{cpu.findtext('vendor')}</vendor>")
    names = features(cpu, "require") | features(cpu, "disable")
    parts += [f"<feature name='{name}'/>" for name in sorted(names)] + ["</cpu>"]
    return "".join(parts)


def expansion_host_cpu(cpu: ET.Element) -> str:
    """Model, vendor and required features only: what the guest is asked to get."""
    model = cpu.findtext("model")
    parts = ["<cpu>", "<arch>x86_64</arch>", f"<model>{model}</model>",
             f"<vendor>{cpu.findtext('vendor')}</vendor>"]
    parts += [f"<feature name='{name}'/>" for name in sorted(features(cpu, "require"))] + ["</cpu>"]
    return "".join(parts)


@functools.cache
def oracle_results() -> dict:
    """libvirt's verdict on every case whose plan can be made here, in one system-Python run."""
    cases = {}
    for key, (source, mode) in CASES.items():
        try:
            plan = plan_of_case(key)
        except pytest.skip.Exception:
            continue  # e.g. an Intel source to boot without QEMU, or no reference dumps
        text = render(plan, "libvirt", MaskOptions(libvirt_mode=mode))
        cpu = parse_cpu(text)
        cases[key] = {"domain": domain_xml(re.sub(r"[^A-Za-z0-9_.-]", "_", key), text),
                      "host_cpu": host_cpu(cpu)}
        if mode == "custom":
            cases[key + "#expand"] = {"domain": cases[key]["domain"],
                                      "host_cpu": expansion_host_cpu(cpu)}
    done = subprocess.run([SYSTEM_PYTHON, "-c", ORACLE], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def verdict(key: str) -> dict:
    plan_of_case(key.removesuffix("#expand"))  # skips here when the plan cannot be made
    return oracle_results()[key]


def expanded_names(xml_text: str) -> set[str]:
    """The features of libvirt's expansion: required less what it disables (libvirt 11 expands
    a model with ``disable`` for what its map marks removed, e.g. mpx)."""
    root = ET.fromstring(xml_text)
    return features(root, "require") - features(root, "disable")


# ---- libvirt accepts every generated <cpu> ---------------------------------------------


@pytest.mark.parametrize("key", list(CASES))
def test_libvirt_accepts_the_cpu(libvirt_tools, key):
    result = verdict(key)
    assert result["validate"][0] == 0, result["validate"][1]
    assert "define_error" not in result, result["define_error"]
    assert "cpu_error" not in result, result["cpu_error"]  # every model/feature name known
    defined = ET.fromstring(result["defined"]).find("cpu")
    text = render(plan_of_case(key), "libvirt", MaskOptions(libvirt_mode=CASES[key][1]))
    ours = parse_cpu(text)
    assert defined.attrib == ours.attrib  # libvirt kept mode, match, check, migratable
    assert {(f.get("policy"), f.get("name")) for f in defined.findall("feature")} == \
        {(f.get("policy"), f.get("name")) for f in ours.findall("feature")}
    if ours.find("maxphysaddr") is not None:
        assert defined.find("maxphysaddr").attrib == ours.find("maxphysaddr").attrib


@pytest.mark.parametrize("key", [k for k in CASES if k.endswith("/custom")])
def test_custom_cpu_is_exactly_what_the_vm_keeps(libvirt_tools, key):
    """Model as libvirt 9.0 expands it + required - disabled = the kept features it can name."""
    plan = plan_of_case(key)
    cpu = parse_cpu(render(plan, "libvirt", MaskOptions()))
    result = verdict(key + "#expand")
    assert "cpu_error" not in result, result["cpu_error"]
    table = feature_table()
    ours = {f.libvirt for f in table.features if f.libvirt}  # CPUID features; libvirt also has MSR bits
    effective = (expanded_names(result["expanded"]) - features(cpu, "disable")) & ours
    # never required: what KVM does not offer guests (host-only bits: ds, tm, est, acpi,
    # monitor; nested virtualization: vmx, svm), nor informational bits that neither KVM
    # emulates nor a QEMU model offers (pdcm, intel_pt). Always: hypervisor (QEMU sets it).
    offered = set().union(*(b.features for b in load_baselines("qemu")))
    visible = {n for n in plan.kept if table.by_name[n].kvm in ("passthrough", "emulated")}
    expected = {libvirt_format.libvirt_name(table.by_name[n]) for n in visible
                if table.by_name[n].kind != "os"
                and (table.by_name[n].kind in ("isa", "security") or n in offered
                     or table.by_name[n].kvm == "emulated")} - {""} | {"hypervisor"}
    assert effective == expected, (f"guest would also get: {sorted(effective - expected)}; "
                                   f"would lack: {sorted(expected - effective)}")
    hidden = {libvirt_format.libvirt_name(table.by_name[n]) for n in plan.hidden} - {""}
    assert not effective & hidden


@pytest.mark.parametrize("key", [k for k in CASES if k.endswith("/host-passthrough")])
def test_passthrough_disables_every_hidden_feature_libvirt_names(key):
    plan = plan_of_case(key)
    cpu = parse_cpu(render(plan, "libvirt", MaskOptions(libvirt_mode="host-passthrough")))
    assert cpu.attrib == {"mode": "host-passthrough", "check": "none", "migratable": "on"}
    table = feature_table()
    hidden = {libvirt_format.libvirt_name(table.by_name[n]) for n in plan.hidden} - {""}
    assert features(cpu, "disable") == hidden and not features(cpu, "require")


def test_round_trip_models_are_libvirt_9_0_names():
    """The closest models of the fixture pairs, as libvirt 9.0 spells them (no -vN aliases)."""
    models = {pair.id: parse_cpu(render(pair_plan(pair), "libvirt", MaskOptions())).findtext("model")
              for pair in PAIRS if pair.source == "max" and "," not in pair.target}
    assert models and all(model in libvirt_format.MODELS for model in models.values())
    assert not any(re.search(r"-v\d+$", model) for model in models.values())


# ---- the name lists against the installed libvirt ----------------------------------------


def installed_map() -> tuple[set[str], set[str]]:
    if not (CPU_MAP / "index.xml").is_file():
        pytest.skip(f"{CPU_MAP} not installed (libvirt0)")
    index = (CPU_MAP / "index.xml").read_text(encoding="utf-8")
    x86 = index[index.index("<arch name='x86'>"):]
    x86 = x86[:x86.index("</arch>")]
    models = set(re.findall(r"filename='x86_([^']+)\.xml'", x86)) - {"vendors", "features"}
    # libvirt >= 11 groups its includes: models then sit in subfolders, named the same way
    names = set(re.findall(r"<feature name='([^']+)'",
                           (CPU_MAP / "x86_features.xml").read_text(encoding="utf-8")))
    return models, names


def test_name_lists_are_in_the_installed_libvirt(libvirt_tools):
    models, names = installed_map()
    assert libvirt_format.MODELS <= models, sorted(libvirt_format.MODELS - models)
    assert libvirt_format.FEATURES <= names, sorted(libvirt_format.FEATURES - names)
    version = subprocess.run(["virsh", "--version"], capture_output=True, text=True).stdout.strip()
    if version.startswith("9.0."):
        assert libvirt_format.MODELS == models and libvirt_format.FEATURES == names


def test_every_qemu_model_libvirt_9_0_names_is_a_baseline():
    from cpucompat.knowledge.baselines import load_baselines

    known = {b.libvirt_name for b in load_baselines("qemu")}
    # pentiumpro and the RHEL models are libvirt-only (no QEMU table has them); QEMU 7.1 removed
    # Icelake-Client, which libvirt 9.0 still names
    assert libvirt_format.MODELS - known == {"pentiumpro", "cpu64-rhel5", "cpu64-rhel6",
                                             "Icelake-Client", "Icelake-Client-noTSX"}


# ---- the text, without libvirt -----------------------------------------------------------


def test_header_is_an_xml_comment_before_cpu():
    plan = synthetic_plan(hidden=("avx2",), lower={"phys_addr_bits": 39})
    text = render(plan, "libvirt", MaskOptions())
    assert text.startswith("<!--\n")
    comment = text[4:text.index("-->")]
    for line in header_lines(plan):
        assert f"  {line}\n" in comment
    cpu = parse_cpu(text)
    assert cpu.find("maxphysaddr").attrib == {"mode": "emulate", "bits": "39"}
    assert cpu.findtext("vendor") == "Intel" and cpu.find("model").get("fallback") == "forbid"
    assert cpu.attrib == {"mode": "custom", "match": "exact", "check": "full"}


def test_comment_never_holds_a_double_hyphen():
    plan = synthetic_plan(hidden=("avx2",))
    plan.vm_name = "vm--with---dashes-"
    text = render(plan, "libvirt", MaskOptions())
    comment = text[4:text.index("-->")]
    assert "--" not in comment and not comment.endswith("-")
    parse_cpu(text)


def test_passthrough_lists_what_libvirt_9_0_cannot_disable():
    plan = synthetic_plan(hidden=("avx2", "avx_vnni_int8", "dtherm"))
    text = render(plan, "libvirt", MaskOptions(libvirt_mode="host-passthrough"))
    cpu = parse_cpu(text)
    assert features(cpu, "disable") == {"avx2"}
    assert "NOT HIDDEN: libvirt 9.0 has no name for avx_vnni_int8" in text
    assert "not exposed by QEMU, nothing to do: dtherm" in text


def test_custom_disables_what_libvirt_9_0_models_still_carry():
    """libvirt 9.0's Skylake-Client still has mpx (QEMU's has not; libvirt 11 marks it removed):
    a VM without mpx gets an explicit disable, or check='full' would refuse the domain
    ("missing features: mpx"). Every feature the guest sees is required, hypervisor included."""
    from cpucompat.knowledge.baselines import get

    model = get("Skylake-Client-v1")
    kept = frozenset((model.features | {"hypervisor"}) - {"mpx"})
    plan = MaskPlan(vm_name="vm1", vm_vendor="GenuineIntel", vm_features=kept, vm_cpu=None,
                    target_label="t1", target_features=kept, hidden=(), lacking={})
    cpu = parse_cpu(render(plan, "libvirt", MaskOptions()))
    assert cpu.findtext("model") == "Skylake-Client"
    assert "mpx" in features(cpu, "disable") and "mpx" in libvirt_format.libvirt_models()["Skylake-Client"]
    table = feature_table()
    assert features(cpu, "require") == {libvirt_format.libvirt_name(table.by_name[n]) for n in kept
                                        if libvirt_format.promised(n)} - {""}
    assert "hypervisor" in features(cpu, "require")


def test_unknown_mode():
    with pytest.raises(UsageError, match="unknown --libvirt-mode 'passthrough'"):
        render(synthetic_plan(), "libvirt", MaskOptions(libvirt_mode="passthrough"))


def test_vendor_libvirt_has_no_name_for():
    text = render(synthetic_plan(vendor="CentaurHauls"), "libvirt", MaskOptions())
    assert parse_cpu(text).find("vendor") is None and "no <vendor> for 'CentaurHauls'" in text


# ---- what QEMU/KVM offered guests on real hosts (libvirt's -json.xml expectations) ------------


def kvm_expectations() -> list[tuple[str, frozenset[str], frozenset[str]]]:
    """(host, its raw CPUID features, the features QEMU/KVM offered its guests) for libvirt's
    ``x86_64-cpuid-<CPU>-json.xml`` (the host CPU QEMU/KVM expanded) beside ``<CPU>.xml``."""
    folder = reference("libvirt", "cputestdata")
    table = feature_table()
    canonical = {f.libvirt: f.name for f in table.features if f.libvirt}
    found = []
    for path in sorted(folder.glob("x86_64-cpuid-*-json.xml")):
        root = ET.parse(path).getroot()
        offered = set(libvirt_format.libvirt_models()[root.findtext("model")])
        offered |= {canonical[n] for n in features(root, "require") if n in canonical}
        offered -= {canonical[n] for n in features(root, "disable") if n in canonical}
        raw = decoded(str(path.with_name(path.name.replace("-json.xml", ".xml"))))
        found.append((path.name, raw, frozenset(offered)))
    assert found, folder
    return found


#: Required by masks (KVM offers them: data/guest-visibility.csv) though the QEMU/KVM of libvirt's
#: 2019-2020 expectations offered them on no host: amd-ibrs (KVM F(AMD_IBRS), added after those
#: kernels) and topoext (KVM F(TOPOEXT); those QEMUs left it out of the expanded host CPU, newer
#: QEMU EPYC models carry it).
NEWER_THAN_EXPECTATIONS = {"amd_ibrs", "topoext"}


def test_custom_never_requires_what_qemu_kvm_never_offered():
    """On nine real hosts QEMU/KVM offered guests none of monitor, acpi, est, tm, ds_cpl ...
    although the hosts had them (vmx and svm only where nesting was on). A mask of such a host (to itself) requires only what
    QEMU/KVM offered that host, or on another host (a newer kernel offers more: xsaves, pku,
    md-clear ...), never a bit no host's guests got."""
    hosts = kvm_expectations()
    table = feature_table()
    canonical = {f.libvirt: f.name for f in table.features if f.libvirt}
    offered_somewhere = frozenset().union(*(offered for _, _, offered in hosts))
    never = frozenset().union(*(raw.features - offered for _, raw, offered in hosts)) - offered_somewhere
    assert {"monitor", "acpi", "est", "tm", "ds_cpl"} <= never
    for name, raw, offered in hosts:
        cpu = parse_cpu(render(plan_for_hosts(raw, [raw]), "libvirt", MaskOptions()))
        required = {canonical[n] for n in features(cpu, "require")}
        assert "hypervisor" in required and "hypervisor" in offered
        beyond = required - offered - offered_somewhere
        assert beyond <= NEWER_THAN_EXPECTATIONS, (name, sorted(beyond))
        assert not required & never - NEWER_THAN_EXPECTATIONS, (name, sorted(required & never))
        # what QEMU/KVM offered this host's guests and the mask disables: only nested
        # virtualization (svm, npt ... where nesting was on), which no mask promises
        disabled = {canonical[n] for n in features(cpu, "disable")}
        lost = {n for n in disabled & offered & raw.features if table.by_name[n].kvm != "nested"}
        assert not lost, (name, sorted(lost))


@pytest.mark.parametrize("vm, target, model", [
    ("AuthenticAMD0A00F11_K19_Milan_CPUID1.txt", "AuthenticAMD0830F10_K17_Rome_CPUID2.txt", "EPYC-Rome"),
    ("GenuineIntel0050654_SkylakeXeon_CPUID9.txt", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt", "Haswell"),
])
def test_custom_model_is_the_targets_generation(vm, target, model):
    """The model agrees most with what the guest keeps: a Zen 3 VM for Zen 2 hosts gets EPYC-Rome
    (not Opteron_G2, whose rdtscp QEMU 7.2's own Opteron_G2 lacks), a Skylake-SP VM for Haswell-EP
    hosts a Haswell model."""
    cpu = parse_cpu(render(reference_plan(vm, target), "libvirt", MaskOptions()))
    assert cpu.findtext("model").split("-noTSX")[0] == model
    assert cpu.find("model").get("vendor_id") == vm[:12]


def test_custom_model_for_the_tcg_epyc_rome_fixture_is_an_epyc():
    cpu = parse_cpu(render(pair_plan(Pair("max", "EPYC-Rome-v2")), "libvirt", MaskOptions()))
    assert cpu.findtext("model").startswith("EPYC")
    assert {"hypervisor", "rdtscp"} <= features(cpu, "require")
    assert {"monitor", "svm"} <= features(cpu, "disable")  # TCG's EPYC has them; KVM never offers them
