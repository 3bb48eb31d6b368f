"""Fleet analysis: small fleets with known answers, agreement with ``cluster``, tables, CLI shape."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cpucompat.fleet import analysis as F, bits as B, model as M
from cpucompat.fleet import tables as fleet_io, synth as fleet_synth
from cpucompat.cli import app
from cpucompat.cluster import MixedVendors, Policy, cluster_baseline, usable_features
from cpucompat.decode import decode
from cpucompat.knowledge.features import feature_table
from cpucompat.fleet.ingest import ingest
from cpucompat.views.fleet import fleet_json
from cpucompat.formats.reader import read_dump

from ..conftest import REFERENCE, TEST_DATA

FIXTURE = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
runner = CliRunner()


@cache
def _fixture():
    return decode(read_dump(FIXTURE))


def _host(name: str, without: tuple[str, ...] = (), base=None):
    host = base or _fixture()
    return dataclasses.replace(host, name=name, features=host.features - set(without))


def _known_fleet():
    """17 full hosts, 2 without avx2, 1 without aes: three classes with known counts."""
    hosts = [_host(f"full-{i:02d}") for i in range(17)]
    hosts += [_host("no-avx2-a", ("avx2",)), _host("no-avx2-b", ("avx2",)), _host("no-aes", ("aes",))]
    return hosts


@cache
def _amd_pool():
    """The fixture and, when present, the AMD EPYC InstLatx64 dumps (decoded once)."""
    names = ["AuthenticAMD0800F12_K17_Zen_CPUID.txt", "AuthenticAMD0830F10_K17_Rome_CPUID2.txt",
             "AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt"]
    paths = [REFERENCE / "dumps" / "instlatx64" / n for n in names]
    return [_fixture()] + [decode(read_dump(p)) for p in paths if p.exists()]


# --- classes, coverage, baseline --------------------------------------------------------

def test_classes_and_coverage_of_a_known_fleet():
    report = F.analyse(M.from_decoded(_known_fleet()))
    assert report.groups.counts.tolist() == [17, 2, 1]
    document = fleet_json(report)
    assert [c["hosts"] for c in document["classes"]] == [17, 2, 1]
    assert [c["missing"] for c in document["classes"]] == [[], ["avx2"], ["aes"]]
    assert document["classes"][1]["examples"] == ["no-avx2-a", "no-avx2-b"]
    assert len(document["classes"][0]["examples"]) == F.EXAMPLES
    assert document["coverage"]["avx2"] == 0.9 and document["coverage"]["aes"] == 0.95
    assert set(document["coverage"]) == {n for n in _fixture().features if feature_table().guest_visible(n)}
    assert set(fleet_json(F.analyse(M.from_decoded(_known_fleet()), Policy(all_bits=True)))["coverage"]) == _fixture().features
    assert all(share == 1 for name, share in document["coverage"].items() if name not in ("avx2", "aes"))


def test_baseline_matches_cluster_on_a_known_fleet():
    hosts = _known_fleet()
    report = F.analyse(M.from_decoded(hosts))
    expected = cluster_baseline(hosts)
    assert report.baseline.features == expected.features
    assert "avx2" not in report.baseline.features and "aes" not in report.baseline.features
    assert report.baseline.fields == expected.fields
    document = fleet_json(report, "libvirt")
    assert document["hosts"] == 20 and "pclmuldq" in document["features"]
    assert document["evc_mode"] == (expected.named["evc"].key if expected.named["evc"] else None)


_CLEARABLE = ("avx2", "aes", "nx", "x2apic", "avx", "sha_ni", "rdseed", "xsave", "invtsc", "osxsave", "bmi2",
              "svm", "npt", "cpb", "hypervisor")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.sets(st.sampled_from(_CLEARABLE))), min_size=1, max_size=8),
       st.booleans(), st.booleans(), st.booleans())
def test_baseline_is_cluster_baseline(picks, include_nonmigratable, cross_vendor, all_bits):
    pool = _amd_pool()
    hosts = [_host(f"h{i}", tuple(cleared), pool[which % len(pool)]) for i, (which, cleared) in enumerate(picks)]
    policy = Policy(include_nonmigratable, cross_vendor, all_bits)
    ours = F.analyse(M.from_decoded(hosts), policy).baseline
    theirs = cluster_baseline(hosts, policy)
    assert ours.features == theirs.features
    assert ours.host_only == theirs.host_only
    assert ours.fields == theirs.fields
    assert ours.vendor == theirs.vendor
    assert {k: v and v.key for k, v in ours.named.items()} == {k: v and v.key for k, v in theirs.named.items()}


def test_classes_survive_a_hash_collision(monkeypatch):
    rows = np.stack([B.pack(s) for s in ({"aes", "nx"}, {"aes"}, {"nx"}, {"aes", "nx"}, set())])
    monkeypatch.setattr(F, "_row_key", lambda bits, varying: np.zeros(bits.shape[0], dtype=np.uint64))
    groups = F.classes(rows)
    assert groups.counts.tolist() == [2, 1, 1, 1]
    assert [B.unpack(r) for r in groups.rows] == [{"aes", "nx"}, {"aes"}, {"nx"}, set()]
    assert groups.of_host.tolist() == [0, 1, 2, 0, 3]


def test_mixed_vendors_are_refused_unless_cross_vendor():
    intel = dataclasses.replace(_fixture(), name="intel-1", vendor="GenuineIntel")
    fleet = M.from_decoded([_host("amd-1"), intel])
    with pytest.raises(MixedVendors, match="GenuineIntel: 1 hosts, e.g. intel-1"):
        F.analyse(fleet)
    result = F.analyse(fleet, Policy(cross_vendor=True)).baseline
    assert result.vendor is None and result.named["evc"] is None
    assert result.features == cluster_baseline([_host("amd-1"), intel], Policy(cross_vendor=True)).features


# --- what-ifs ---------------------------------------------------------------------------

def test_min_hosts_adds_features_by_coverage_while_enough_hosts_remain():
    hosts = _known_fleet()
    fleet = M.from_decoded(hosts)
    everyone = cluster_baseline(hosts).features
    # 90%: aes (19 hosts) fits, avx2 (then 17 < 18) does not; the answer is the baseline of the 19.
    report = F.analyse(fleet, share=Fraction(9, 10))
    expected = cluster_baseline([h for h in hosts if h.name != "no-aes"]).features
    assert report.min_hosts.features == expected
    assert report.min_hosts.gained == expected - everyone and "aes" in report.min_hosts.gained
    document = fleet_json(report)["min_hosts"]
    assert document["share"] == 0.9 and document["hosts_kept"] == 19
    assert document["hosts_left_out"] == {"no-aes": sorted(expected - everyone)}
    # 85%: both fit; the three odd hosts are left out, each for what it lacks.
    document = fleet_json(F.analyse(fleet, share=Fraction(85, 100)))["min_hosts"]
    full = usable_features(_fixture().features)
    assert set(document["features_gained"]) == full - everyone
    assert set(document["hosts_left_out"]) == {"no-avx2-a", "no-avx2-b", "no-aes"}
    assert document["hosts_left_out"]["no-avx2-a"] == ["avx2"]
    assert document["hosts_left_out"]["no-aes"] == sorted((full - everyone) - {"avx2"})


def test_min_hosts_of_100_percent_is_the_baseline():
    report = F.analyse(M.from_decoded(_known_fleet()), share=Fraction(1))
    assert report.min_hosts.gained == frozenset() and report.min_hosts.kept_hosts == 20


@pytest.mark.parametrize("text, share", [("95%", Fraction(95, 100)), ("0.95", Fraction(95, 100)), ("100%", 1)])
def test_parse_share(text, share):
    assert F.parse_share(text) == share


@pytest.mark.parametrize("text", ["0", "0%", "101%", "x", "1.5"])
def test_parse_share_refuses_nonsense(text):
    with pytest.raises(F.UsageError):
        F.parse_share(text)


def test_without_names_what_the_baseline_gains():
    hosts = _known_fleet()
    fleet = M.from_decoded(hosts)
    report = F.analyse(fleet, without_hosts=["no-aes"])
    rest = cluster_baseline([h for h in hosts if h.name != "no-aes"]).features
    assert report.without.gained == rest - cluster_baseline(hosts).features and "aes" in report.without.gained
    assert fleet_json(report)["without"] == {"hosts": ["no-aes"], "hosts_removed": 1,
                                             "features_gained": sorted(report.without.gained)}
    with pytest.raises(F.UsageError, match="no such host in the fleet: nope"):
        F.analyse(fleet, without_hosts=["nope"])


# --- tables -----------------------------------------------------------------------------

@pytest.mark.parametrize("hosts", [1, 7, 8, 9, 1001])
def test_bit_layouts_round_trip(hosts):
    rng = np.random.default_rng(hosts)
    flags = rng.random((hosts, len(B.columns()))) < 0.5
    bits = B.pack_matrix(flags)
    assert np.array_equal(B.bool_matrix(bits), flags)
    bitmaps = fleet_io.bitmaps_from_rows(bits)
    assert np.array_equal(bitmaps[:len(B.columns())], np.packbits(flags.T, axis=1, bitorder="little"))
    interleaved = fleet_io.interleaved_bitmaps(hosts)
    for j in range(bitmaps.shape[0]):
        interleaved[j // 8, :, j % 8] = bitmaps[j]
    assert np.array_equal(fleet_io.rows_from_bitmaps(interleaved, hosts), bits)


def _synthetic(hosts=300, seed=1):
    return fleet_synth.synthesize(_amd_pool(), hosts, seed)


def _same_fleet(a, b):
    assert np.array_equal(a.bits, b.bits)
    assert a.hosts.tolist() == b.hosts.tolist()
    assert a.scalars.astype(object).where(a.scalars.notna(), None).values.tolist() == \
        b.scalars.astype(object).where(b.scalars.notna(), None).values.tolist()


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_tables_round_trip(tmp_path, suffix):
    fleet = _synthetic()
    fleet.scalars.loc[0, "xcr0_supported"] = None  # nulls survive too
    path = str(tmp_path / f"fleet.{suffix}")
    fleet_io.write_table(fleet, path)
    _same_fleet(fleet_io.read_table(path), fleet)
    frame = fleet_io.to_frame(fleet)
    assert list(frame.columns[:len(M.SCALARS) + 1]) == ["host", *M.SCALARS]
    assert frame["aes"].dtype == bool
    with pytest.raises(F.CpuCompatError, match="exists"):
        fleet_io.write_table(fleet, path)


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(fleet_io.MissingParquet, match=r"pip install 'cpucompat\[parquet\]'") as error:
        fleet_io.write_table(M.from_decoded([_fixture()]), str(tmp_path / "f.parquet"))
    assert error.value.exit_code == 2


def test_synth_is_deterministic_by_seed():
    a, b, c = _synthetic(seed=5), _synthetic(seed=5), _synthetic(seed=6)
    _same_fleet(a, b)
    assert not np.array_equal(a.bits, c.bits)
    assert len(F.classes(a.bits).counts) > 1


def test_limit_maxval_is_decoded_again():
    limited = fleet_synth.limit_maxval(_fixture())
    assert limited.fields["max_basic_leaf"] == 3 and limited.fields["xcr0_supported"] is None
    assert "avx2" not in limited.features and "sse2" in limited.features


# --- ingest -----------------------------------------------------------------------------

def test_fingerprint_fast_path_gives_what_decode_gives(tmp_path):
    fleet_synth.write_fingerprints(read_dump(FIXTURE), str(tmp_path), 40, configs=4, seed=2)
    (tmp_path / "README").write_text("not a dump\n")
    ingested = ingest([str(tmp_path)])
    assert [p for p, _ in ingested.skipped] == [str(tmp_path / "README")]
    files = sorted(tmp_path.glob("fp-*.json"))
    expected = M.from_decoded([decode(read_dump(p)) for p in files])
    _same_fleet(ingested.fleet, expected)
    assert ingested.fleet.hosts.tolist()[:2] == ["fp-00", "fp-01"]


def test_fingerprint_with_other_leaves_misses_the_cache(tmp_path):
    fleet_synth.write_fingerprints(read_dump(FIXTURE), str(tmp_path), 3, configs=1)
    changed = json.loads((tmp_path / "fp-2.json").read_text())
    row = next(r for r in changed["raw"]["cpus"][0]["leaves"] if r[0] == "0x00000007")
    row[3] = "0x00000000"  # 7.0:EBX cleared on CPU 0 only
    (tmp_path / "fp-2.json").write_text(json.dumps(changed))
    fleet = ingest([str(tmp_path)]).fleet
    assert "avx2" in B.unpack(fleet.bits[0]) and "avx2" not in B.unpack(fleet.bits[2])


def test_duplicate_names_become_paths(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "cpuid.txt").write_bytes(FIXTURE.read_bytes())
    assert ingest([str(tmp_path)]).fleet.hosts.tolist() == [str(tmp_path / "a" / "cpuid.txt"),
                                                              str(tmp_path / "b" / "cpuid.txt")]


# --- the command line -------------------------------------------------------------------

def test_cli_synth_then_analyse_a_folder(tmp_path):
    table = tmp_path / "fleet" / "f.parquet"
    table.parent.mkdir()
    result = runner.invoke(app, ["fleet", "synth", "--from", str(FIXTURE), "--hosts", "10", "-o", str(table)])
    assert result.exit_code == 0, result.stderr
    _same_fleet(fleet_io.read_table(str(table)), fleet_synth.synthesize([_fixture()], 10, 0))
    result = runner.invoke(app, ["fleet", f"{table.parent}/", "--json", "--min-hosts", "50%", "--without", "synth-0,synth-1"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["hosts"] == 10 and document["without"]["hosts"] == ["synth-0", "synth-1"]
    assert {"features", "fields", "evc_mode", "psabi_level", "qemu_model", "classes", "coverage", "min_hosts"} <= set(document)
    result = runner.invoke(app, ["fleet", "analyse", str(table), "-o", str(tmp_path / "copy.csv")])
    assert result.exit_code == 0 and "\nBaseline: " in result.stdout
    _same_fleet(fleet_io.read_table(str(tmp_path / "copy.csv")), fleet_io.read_table(str(table)))


def test_cli_progress_on_stderr_and_pure_json_on_stdout(tmp_path):
    fleet_synth.write_fingerprints(read_dump(FIXTURE), str(tmp_path), 210, configs=3)
    result = runner.invoke(app, ["fleet", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["hosts"] == 210
    assert "reading hosts" in result.stderr and "210/210" in result.stderr


def test_cli_mixed_vendors_report_per_vendor(tmp_path):
    intel = dataclasses.replace(_fixture(), name="intel-1", vendor="GenuineIntel")
    table = str(tmp_path / "mixed.csv")
    fleet_io.write_table(M.from_decoded([_host("amd-1"), intel]), table)
    result = runner.invoke(app, ["fleet", table, "--json"])  # one report per vendor, never an error (issue 11)
    assert result.exit_code == 0, result.output
    assert [v["vendor"] for v in json.loads(result.stdout)["vendors"]] == ["AuthenticAMD", "GenuineIntel"]
    result = runner.invoke(app, ["fleet", table, "--cross-vendor", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["vendor"] is None


def test_corrupt_parquet_is_an_input_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + b"\0" * 64)
    result = runner.invoke(app, ["fleet", str(tmp_path / "bad.parquet")])
    assert result.exit_code == 2 and "cannot read Parquet" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["fleet", "nope.json"], "nope.json: cannot read"),
    (["fleet", str(FIXTURE), "--min-hosts", "150%"], "--min-hosts"),
    (["fleet", str(FIXTURE), "-o", "fleet.txt"], "a fleet table is written as .parquet or .csv"),
])
def test_cli_errors_exit_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr


def test_decode_does_not_import_pandas():
    code = (f"import sys\nfrom cpucompat.cli import app\n"
            f"try:\n    app(['decode', {str(FIXTURE)!r}, '--json'])\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip().splitlines()[-1] == "False False"


def test_parquet_with_row_groups_and_nulls(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fleet = _synthetic(hosts=250)
    table = fleet_io._arrow_table(fleet)
    aes = table.column_names.index("aes")
    values = table.column(aes).to_pylist()
    values[3] = None  # a null reads as absent
    table = table.set_column(aes, "aes", pa.array(values))
    pq.write_table(table, tmp_path / "f.parquet", row_group_size=64)
    read = fleet_io.read_table(str(tmp_path / "f.parquet"))
    expected = fleet.bits.copy()
    expected[3] &= ~B.pack({"aes"})
    assert np.array_equal(read.bits, expected)


def test_folder_with_a_table_and_dumps(tmp_path):
    fleet_io.write_table(_synthetic(hosts=20), str(tmp_path / "old.csv"))
    (tmp_path / "new-host.txt").write_bytes(FIXTURE.read_bytes())
    fleet = ingest([str(tmp_path)]).fleet
    assert len(fleet) == 21 and fleet.hosts.iloc[-1] == "new-host.txt"


def test_fleet_without_pandas_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(B.MissingExtra, match=r"pip install 'cpucompat\[fleet\]'") as error:
        M.from_decoded([_fixture()])
    assert error.value.exit_code == 2
