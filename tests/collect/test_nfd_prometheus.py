"""``collect --nfd`` and ``collect --prometheus``: label syntax, the names the labels carry (the
same as ``baseline`` and ``fleet`` give the fingerprint), the textfile read back by
prometheus_client's own parser, atomic replacement."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys

import pytest

from cpucompat.collect import nfd, prometheus
from cpucompat.collect.summary import HostSummary, summarize_decoded
from cpucompat.decode import decode
from cpucompat.formats.reader import read_dump
from cpucompat.knowledge import baselines

from ..conftest import REPO, TEST_DATA

x86_only = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64", "i686"),
                              reason=f"collect reads x86 CPUID; this machine is {platform.machine()}")

# Kubernetes' own rules, written out independently of nfd.py (k8s.io/apimachinery
# pkg/util/validation: qualifiedNameFmt, labelValueFmt, DNS1123SubdomainFmt, the length limits).
K8S_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
K8S_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def kubernetes_accepts(name: str, value: str) -> bool:
    parts = name.split("/")
    if len(parts) > 2:
        return False
    if len(parts) == 2 and not (parts[0] and len(parts[0]) <= 253 and K8S_SUBDOMAIN.match(parts[0])):
        return False
    local = parts[-1]
    value_ok = value == "" or (len(value) <= 63 and K8S_NAME.match(value))
    return bool(local and len(local) <= 63 and K8S_NAME.match(local) and value_ok)


def cpucompat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def feature_file(text: str) -> dict[str, str]:
    """NFD's local feature file: ``#`` comments, ``name=value`` (a bare name means ``true``)."""
    labels = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            labels[name] = value if _ else "true"
    return labels


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    done = cpucompat("collect", "-o", str(folder / "host.json"), "--nfd", str(folder / "cpucompat.features"),
                     "--prometheus", str(folder / "cpucompat.prom"))
    assert done.returncode == 0, done.stderr
    return folder


@x86_only
def test_nfd_labels_follow_kubernetes_syntax_and_name_what_baseline_names(collected):
    labels = feature_file((collected / "cpucompat.features").read_text())
    assert labels and all(name.startswith("cpucompat.io/") for name in labels)
    bad = [f"{n}={v}" for n, v in labels.items() if not kubernetes_accepts(n, v)]
    assert not bad
    baseline = json.loads(cpucompat("baseline", str(collected / "host.json"), "--json").stdout)
    for kind, key in (("evc-mode", "evc_mode"), ("psabi-level", "psabi_level"), ("qemu-model", "qemu_model")):
        assert labels.get(f"cpucompat.io/{kind}") == baseline[key]
        if baseline[key]:
            assert labels[f"cpucompat.io/{kind.split('-')[0]}.{baseline[key]}"] == "true"
    fleet = json.loads(cpucompat("fleet", str(collected / "host.json"), "--json").stdout)
    assert labels["cpucompat.io/class"] == fleet["classes"][0]["id"]
    assert labels.get("cpucompat.io/psabi.x86-64") == "true"  # every lower level is labelled too


@x86_only
def test_prometheus_textfile_parses_with_prometheus_client(collected):
    parser = pytest.importorskip("prometheus_client.parser")
    document = json.loads((collected / "host.json").read_text())
    families = {f.name: f for f in parser.text_string_to_metric_families((collected / "cpucompat.prom").read_text())}
    assert {"cpucompat_fingerprint_info", "cpucompat_content_hash_prefix", "cpucompat_features",
            "cpucompat_evc_mode", "cpucompat_collect_timestamp_seconds"} <= set(families)
    info = families["cpucompat_fingerprint_info"].samples[0]
    assert info.labels["content_hash"] == document["content_hash"] and info.value == 1
    prefix = families["cpucompat_content_hash_prefix"].samples[0].value
    assert prefix == int(document["content_hash"].removeprefix("sha256:")[:12], 16)
    counts = {s.labels["view"]: s.value for s in families["cpucompat_features"].samples}
    assert counts["all"] == len(decode(read_dump(str(collected / "host.json"))).features)
    found = {s.labels["finding"]: s.value for s in families["cpucompat_bios_finding"].samples}
    assert found == {f["id"]: {"found": 1, "not-found": 0}.get(f["status"], -1) for f in document["findings"]}
    for family in families.values():
        assert family.type == "gauge"


def summary(**changes) -> HostSummary:
    base = summarize_decoded(decode(read_dump(str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"))), "milan")
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_invalid_labels_are_left_out_and_named():
    labels, left_out = nfd.labels(summary(qemu_model="Bad Model!", satisfied={"qemu": ["x" * 70]}))
    assert "cpucompat.io/qemu-model" not in labels
    assert left_out == ["cpucompat.io/qemu-model=Bad Model!", f"cpucompat.io/qemu.{'x' * 70}=true"]
    for name, value in [("cpucompat.io/a", "b"), ("a", ""), ("cpucompat.io/qemu.EPYC-Rome-v1", "true")]:
        assert nfd.valid_label(name, value) and kubernetes_accepts(name, value)
    for name, value in [("Cpucompat.io/a", "b"), ("cpucompat.io/-a", "b"), ("cpucompat.io/a", "-b"),
                        ("cpucompat.io/" + "a" * 64, "b"), ("cpucompat.io/a", "b" * 64), ("a/b/c", "d")]:
        assert not nfd.valid_label(name, value) and not kubernetes_accepts(name, value)


def test_milan_names_and_escaped_prometheus_labels():
    host = summary(brand='odd "brand"\\\n')
    labels, _ = nfd.labels(host)
    named = json.loads(cpucompat("baseline", str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"), "--json").stdout)
    assert labels["cpucompat.io/qemu-model"] == named["qemu_model"] and labels["cpucompat.io/qemu-model"].startswith("EPYC")
    assert labels["cpucompat.io/psabi-level"] == named["psabi_level"] == "x86-64-v3"
    parser = pytest.importorskip("prometheus_client.parser")
    text = prometheus.render(summary(evc_mode=labels.get("cpucompat.io/evc-mode"), vendor='a"b\\c\nd'))
    info = next(iter(parser.text_string_to_metric_families(text))).samples[0]
    assert info.labels["vendor"] == 'a"b\\c\nd'


def test_a_changed_evc_mode_or_finding_moves_its_series_and_starts_no_new_one():
    """PromQL's delta() and changes() work within one series (name and labels): the README's
    alerts fire only if a change moves a value, not a label."""
    parser = pytest.importorskip("prometheus_client.parser")
    milan = summary(findings=[{"id": "nx-disabled"}, {"id": "smt-off"}])  # ids the collector reports

    def series(host: HostSummary) -> dict[tuple, float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in parser.text_string_to_metric_families(prometheus.render(host))
                if family.name != "cpucompat_fingerprint_info" for s in family.samples}

    levels = sorted((b for b in baselines.load_baselines("evc") if b.fits_vendor(milan.vendor)), key=lambda b: b.level)
    first = dict(vars(milan), evc_mode=levels[-1].key, findings=[dict(f, status="not-found") for f in milan.findings])
    later = dict(first, evc_mode=levels[0].key, findings=[dict(f, status="found") for f in milan.findings])
    before, after = series(HostSummary(**first)), series(HostSummary(**later))
    assert before.keys() == after.keys()
    assert before[("cpucompat_evc_mode", ())] == levels[-1].level > after[("cpucompat_evc_mode", ())] == levels[0].level
    for finding in milan.findings:
        key = ("cpucompat_bios_finding", (("finding", finding["id"]),))
        assert (before[key], after[key]) == (0, 1)


@x86_only
def test_files_are_replaced_and_stdout_stays_empty(tmp_path):
    target = tmp_path / "node.prom"
    target.write_text("old\n")
    target.chmod(0o640)
    done = cpucompat("collect", "--prometheus", str(target), "--nfd", str(tmp_path / "labels"))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert target.read_text().startswith("# HELP") and (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels", "node.prom"]  # no temporary file left


@x86_only
def test_a_folder_as_output_is_refused_before_collecting(tmp_path):
    done = cpucompat("collect", "--nfd", str(tmp_path))
    assert done.returncode == 2 and done.stderr.startswith("error:") and len(done.stderr.splitlines()) == 1
