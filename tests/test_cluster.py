"""Cluster baselines over real dumps: exactly the closed intersection, compatible with every input."""

from __future__ import annotations

import itertools
import json
from functools import cache

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.cluster import MixedVendors, Policy, cluster_baseline
from cpucompat.compare import Source, compare
from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table
from cpucompat.formats.reader import read_dump

from .conftest import REFERENCE, TEST_DATA
from tests.conftest import missing_reference

runner = CliRunner()


def _server_dumps():
    folder = REFERENCE / "dumps" / "instlatx64"
    return sorted(folder.glob("*.txt")) if folder.exists() else []


@cache
def _decoded(path):
    return decode(read_dump(path))


def _pairs_of_one_vendor():
    dumps = _server_dumps()
    return [(a, b) for a, b in itertools.combinations(dumps, 2) if a.name[:12] == b.name[:12]]


def _expected(a, b, all_bits: bool = False) -> frozenset[str]:
    """Independent of cluster.py: intersection, minus os/non-migratable (and, unless all_bits,
    host-only) bits, closed under deps."""
    table = feature_table()
    common = {n for n in _decoded(a).features & _decoded(b).features
              if table.by_name[n].kind != "os" and table.by_name[n].migratable
              and (all_bits or table.by_name[n].kvm in ("passthrough", "emulated"))}
    changed = True
    while changed:
        dropped = {n for n in common if not table.requires.get(n, set()) <= common}
        common -= dropped
        changed = bool(dropped)
    return frozenset(common)


@pytest.mark.parametrize("a, b", _pairs_of_one_vendor(), ids=lambda p: p.name.split("_")[0])
def test_pair_baseline_is_closed_intersection_and_compatible_with_both(a, b):
    hosts = [_decoded(a), _decoded(b)]
    result = cluster_baseline(hosts)
    assert result.features == _expected(a, b)
    assert cluster_baseline(hosts, Policy(all_bits=True)).features == _expected(a, b, all_bits=True)
    as_source = Source("baseline", result.vendor, result.features, result.fields)
    for host in hosts:
        verdict = compare(as_source, host)
        assert verdict.compatible, (host.name, verdict)


def test_there_are_many_pairs():
    if not _server_dumps():
        missing_reference()
    assert len(_pairs_of_one_vendor()) >= 60


def test_invtsc_and_os_bits_are_left_out_by_default():
    host = decode(read_dump(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"))
    assert "osxsave" in host.features
    default = cluster_baseline([host])
    assert "osxsave" not in default.features and "ospke" not in default.features
    with_all = cluster_baseline([host], Policy(include_nonmigratable=True))
    non_migratable = {f.name for f in feature_table().features if not f.migratable}
    assert not non_migratable & default.features
    assert (non_migratable & host.features) <= with_all.features


def test_dependency_closure_removes_dependents():
    host = decode(read_dump(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"))
    crippled = decode(read_dump(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"))
    crippled.features = crippled.features - {"avx"}
    crippled.name = "no-avx"
    result = cluster_baseline([host, crippled])
    assert not {"avx", "avx2", "fma", "vaes", "vpclmulqdq"} & result.features
    assert {"avx", "avx2", "fma"} <= set(result.weakest_links["no-avx"])


def test_mixed_vendors_raise_and_exit_2():
    intel = REFERENCE / "dumps" / "instlatx64" / "GenuineIntel00206A7_SandyBridge_CPUID.txt"
    if not intel.exists():
        missing_reference()
    amd = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    with pytest.raises(MixedVendors):
        cluster_baseline([_decoded(intel), _decoded(amd)])
    result = runner.invoke(app, ["baseline", str(intel), str(amd)])
    assert result.exit_code == 2 and "AuthenticAMD" in result.stderr and "GenuineIntel" in result.stderr
    crossed = runner.invoke(app, ["baseline", str(intel), str(amd), "--cross-vendor", "--json"])
    document = json.loads(crossed.stdout)
    assert crossed.exit_code == 0 and document["psabi_level"] == "x86-64-v2"
    assert document["evc_mode"] is None
    vendors = {f.name: f.vendor for f in feature_table().features}
    assert all(vendors[feature_table().resolve(n).name] == "any" for n in document["features"])


def test_baseline_json_shape_and_weakest_link():
    dumps = [REFERENCE / "dumps" / "instlatx64" / n for n in
             ("GenuineIntel00306F2_HaswellEP_00_CPUID.txt", "GenuineIntel0050654_SkylakeXeon_CPUID9.txt",
              "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt")]
    if not dumps[0].exists():
        missing_reference()
    result = runner.invoke(app, ["baseline", *map(str, dumps), "--json", "--names", "qemu"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # the Skylake dump predates the 2018 microcode: no IBRS/IBPB, STIBP, SSBD nor L1D flush, which
    # vCenter's intel-westmere and later masks expose
    assert document["evc_mode"] == "intel-nehalem"
    assert document["psabi_level"] == "x86-64-v3"
    assert document["qemu_model"] is not None and document["qemu_model"].startswith("Haswell")
    assert set(document) >= {"features", "fields", "hosts", "extra", "weakest_links"}
    assert "avx512f" in document["weakest_links"]["GenuineIntel00306F2_HaswellEP_00_CPUID.txt"]
    # avx512_vnni: Haswell lacks it as well as Skylake, so it is no one host's fault
    assert "avx512-vnni" not in document["weakest_links"]["GenuineIntel0050654_SkylakeXeon_CPUID9.txt"]
    assert "md-clear" in document["weakest_links"]["GenuineIntel0050654_SkylakeXeon_CPUID9.txt"]
    assert document["fields"]["phys_addr_bits"] == min(_decoded(p).fields["phys_addr_bits"] for p in dumps)


def test_degraded_input_is_warned_about_on_stderr():
    proc = TEST_DATA / "linux-kvm-zen3-epyc-milan_proc-cpuinfo.txt"
    raw = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    result = runner.invoke(app, ["baseline", str(proc), str(raw), "--json"])
    assert result.exit_code == 0
    assert f"warning: {proc.name}: degraded input" in result.stderr
    document = json.loads(result.stdout)  # stdout stays pure JSON
    assert document["fields"]["max_basic_leaf"] is None  # unknown on the degraded host
