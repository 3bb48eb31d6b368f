"""KubeVirt ``spec.domain.cpu`` fragment and node labels, parsed as YAML and applied to raw CPUID.

Reader from kubevirt/user-guide ``virtual_hardware.md``: ``cpu.model`` is a libvirt model name,
``cpu.features`` a list of ``{name, policy}`` with libvirt names (the ``libvirt`` column of
features.csv); ``policy: disable`` clears the bit. The node selector must ask for the
``cpu-model.node.kubevirt.io/<model>`` label and cpucompat's ``cpucompat.io/qemu.<Model-vN>``
label of the same model, and the model's features must be on the targets.
"""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.cluster import Policy
from cpucompat.collect import nfd
from cpucompat.collect.summary import summarize_decoded
from cpucompat.knowledge.baselines import get
from cpucompat.decode import Decoded
from cpucompat.knowledge.features import feature_table
from cpucompat.masks import plan_for_baseline, plan_for_hosts, render
from cpucompat.masks.plan import header_lines

from .conftest import ZEN3_KVM, instlat, instlat_names, model_problems, named_format_problems, pair_failures

POLICIES = {"force", "require", "optional", "disable", "forbid"}


def documents(text: str) -> tuple[dict, dict]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert len(docs) == 2, docs
    cpu_doc, labels_doc = docs
    assert set(cpu_doc) == {"cpu"} and set(labels_doc) == {"nodeSelector"}
    return cpu_doc["cpu"], labels_doc["nodeSelector"]


def kubevirt_edits(cpu: dict):
    libvirt = feature_table().by_vocabulary["libvirt"]
    zeros, seen = {}, set()
    for item in cpu.get("features") or []:
        assert set(item) == {"name", "policy"}, item
        name, policy = item["name"], item["policy"]
        assert isinstance(name, str) and policy in POLICIES
        assert policy == "disable", f"{item}: a mask only disables"
        assert name not in seen, f"{name} given twice"
        seen.add(name)
        assert name in libvirt, f"{name} is not a libvirt feature name"
        feature = libvirt[name]
        zeros[feature.location] = zeros.get(feature.location, 0) | feature.mask
    return zeros, {}


def removed_features(cpu: dict) -> frozenset[str]:
    libvirt = feature_table().by_vocabulary["libvirt"]
    return frozenset(libvirt[item["name"]].name for item in cpu.get("features") or [])


def check(vm: Decoded, plan, target_features, target_fields=None) -> list[str]:
    text = render(plan, "kubevirt")
    header = header_lines(plan)
    assert text.splitlines()[:len(header)] == [f"# {line}" for line in header]
    cpu, selector = documents(text)
    found = []
    model = cpu["model"]
    assert isinstance(model, str)
    ours = [label for label in selector if label.startswith(nfd.PREFIX)]
    assert selector == {f"cpu-model.node.kubevirt.io/{model}": "true", **{label: "true" for label in ours}}
    assert len(ours) == 1 and ours[0].startswith(nfd.model_label("")), selector
    baseline = get(ours[0].removeprefix(nfd.model_label("")))
    assert baseline.kind == "qemu" and baseline.libvirt_name == model
    if "has features some target lacks" not in text:  # then collect --nfd labels every target with it
        assert baseline.required <= set(target_features) | Policy().never_blocking()
    found += model_problems(vm, plan, model, removed_features(cpu), target_features, text)
    zeros, ones = kubevirt_edits(cpu)
    return found + named_format_problems(vm, plan, text, zeros, ones, "libvirt", target_features,
                                         target_fields)


@pytest.mark.parametrize("source", instlat_names() or ["(no reference dumps)"])
def test_kubevirt_between_reference_dumps(source):
    failures = pair_failures(source, check)
    assert not failures, "\n".join(failures)


def test_model_and_disabled_features():
    vm = instlat("AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt")
    rome = instlat("AuthenticAMD0830F10_K17_Rome_CPUID2.txt")
    plan = plan_for_hosts(vm, [rome])
    cpu, selector = documents(render(plan, "kubevirt"))
    assert cpu["model"].startswith("EPYC")
    assert {"name": "avx512f", "policy": "disable"} in cpu["features"]
    # the target's own `collect --nfd` labels satisfy the selector's cpucompat.io/ label
    labels, _ = nfd.labels(summarize_decoded(rome, "rome"))
    ours = {name: value for name, value in selector.items() if name.startswith(nfd.PREFIX)}
    assert ours and ours.items() <= labels.items(), (ours, labels)


def test_baseline_plan_on_our_fixture(zen3):
    plan = plan_for_baseline(zen3, "EPYC-Rome-v1")
    assert not check(zen3, plan, plan.target_features)
    cpu, _ = documents(render(plan, "kubevirt"))
    assert cpu["model"] == "EPYC-Rome"


def test_cli_kubevirt_parses():
    result = CliRunner().invoke(app, ["mask", str(ZEN3_KVM), "--qemu-model", "EPYC-Rome-v1",
                                      "--format", "kubevirt"])
    assert result.exit_code == 0, result.output
    cpu, selector = documents(result.stdout)
    assert cpu["features"] and selector
