"""--kvm: baselines, verdicts and masks from what KVM can offer guests, not the raw host CPUID."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cpucompat.formats import fingerprint
from cpucompat.cli import app
from cpucompat.dump import CpuLeaves
from cpucompat.formats.reader import read_dump

from .conftest import TEST_DATA

runner = CliRunner()
FIXTURE = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
AVX2 = (7, 0, 1, 1 << 5)  # CPUID.(7,0):EBX[5]


def _fingerprint(tmp_path, name: str, kvm_clears=None, with_kvm: bool = True):
    """Our fixture as a fingerprint whose KVM-supported set is its CPU 0 minus some bits."""
    dump = read_dump(FIXTURE)
    supported = CpuLeaves(0, dict(dump.cpus[0].leaves))
    if kvm_clears:
        leaf, subleaf, reg, mask = kvm_clears
        regs = list(supported.get(leaf, subleaf))
        regs[reg] &= ~mask
        supported.leaves[(leaf, subleaf)] = tuple(regs)
    document = fingerprint.build(dump.cpus, host={"hostname": name}, source={"method": "test"},
                                 kvm_supported=supported if with_kvm else None)
    path = tmp_path / f"{name}.json"
    path.write_text(fingerprint.dumps(document))
    return str(path)


def test_baseline_uses_the_kvm_set_only_when_asked(tmp_path):
    hosts = [_fingerprint(tmp_path, "a"), _fingerprint(tmp_path, "b", kvm_clears=AVX2)]
    raw = json.loads(runner.invoke(app, ["baseline", *hosts, "--json"]).stdout)
    kvm = runner.invoke(app, ["baseline", *hosts, "--json", "--kvm"])
    assert kvm.exit_code == 0, kvm.stderr
    assert "avx2" in raw["features"] and "avx2" not in json.loads(kvm.stdout)["features"]
    assert json.loads(kvm.stdout)["weakest_links"] == {"b": ["avx2"]}


def test_compare_and_mask_with_kvm(tmp_path):
    source, target = _fingerprint(tmp_path, "a"), _fingerprint(tmp_path, "b", kvm_clears=AVX2)
    assert runner.invoke(app, ["compare", source, target]).exit_code == 0
    verdict = runner.invoke(app, ["compare", source, target, "--kvm", "--json"])
    assert verdict.exit_code == 1
    assert [m["name"] for m in json.loads(verdict.stdout)["targets"][0]["missing"]] == ["avx2"]
    mask = runner.invoke(app, ["mask", source, "--target", target, "--kvm", "--format", "qemu"])
    assert mask.exit_code == 0 and ",-avx2," in mask.stdout


def test_kvm_without_a_kvm_set_is_an_input_error(tmp_path):
    plain = _fingerprint(tmp_path, "plain", with_kvm=False)
    result = runner.invoke(app, ["baseline", plain, "--kvm"])
    assert result.exit_code == 2
    assert "no KVM-supported CPUID" in result.stderr and plain in result.stderr
    dump_only = runner.invoke(app, ["compare", str(FIXTURE), str(FIXTURE), "--kvm"])
    assert dump_only.exit_code == 2
