"""Host fingerprints and VM records: the real VMC vCenter (govc-sddc) read offline and served by vcsim."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.decode import decode
from cpucompat.evc import evc_check
from cpucompat.formats.reader import read_dump
from tests.conftest import reference

runner = CliRunner()
HOST = "10.2.32.4"
VMS = ["NSX-Edge-0", "NSX-Edge-1", "NSX-Manager-0", "NSX-Manager-1", "NSX-Manager-2", "test-snap", "vcenter"]


def collect(tmp_path, *args, name="out"):
    out = tmp_path / name
    result = runner.invoke(app, ["vsphere", "collect", *args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def saved_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("sddc") / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def check_sddc(out):
    """What vCenter said of its own inventory: a Broadwell host at intel-broadwell, every VM fits its host."""
    host_file = out / "hosts" / f"{HOST}.json"
    record = json.loads(host_file.read_text())
    assert record["format"] == "cpucompat-vsphere-host"
    assert record["max_evc_mode"] == "intel-broadwell"
    assert record["cpu_model"] == "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz"
    assert record["cluster"] == "Cluster-1" and record["esxi"]["version"] == "8.0.1"
    assert len(record["feature_capability"]) == 83 and len(record["cpu_feature"]) == 5
    dump = read_dump(host_file)
    assert dump.format == "vsphere-host"
    host = decode(dump)
    assert (host.vendor, host.family, host.model) == ("GenuineIntel", 6, 79)  # Broadwell-EP
    assert {"avx2", "bmi2", "adx", "rdseed", "smap", "invpcid"} <= host.features  # leaf 7: from featureCapability
    assert evc_check(host).mode.key == "intel-broadwell"
    assert sorted(p.stem for p in (out / "vms").glob("*.json")) == VMS
    for vm_file in sorted((out / "vms").glob("*.json")):
        vm = json.loads(vm_file.read_text())
        assert vm["host"] == HOST and vm["min_required_evc_mode"] == "intel-broadwell"
        assert 34 <= len(vm["feature_requirement"]) <= 43
        result = runner.invoke(app, ["compare", str(vm_file), str(host_file), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["targets"][0]["verdict"] == "compatible"
    edge = json.loads((out / "vms" / "NSX-Edge-0.json").read_text())
    assert edge["featmask_extra_config"] == {"featMask.vm.cpuid.PDPE1GB": "Val:1"}


def test_saved_inventory(saved_records):
    check_sddc(saved_records)


def test_evc_check_cli(saved_records):
    result = runner.invoke(app, ["evc", "check", str(saved_records / "hosts" / f"{HOST}.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert "intel-broadwell" in result.stdout


def test_served_by_vcsim(sddc_vcsim, env, tmp_path):
    out = collect(tmp_path, "--server", sddc_vcsim.server)
    check_sddc(out)


def test_vcenter_and_save_agree(sddc_vcsim, env, saved_records, tmp_path):
    """The same host and VM records whether read live or from the save (all but the source line)."""
    out = collect(tmp_path, "--server", sddc_vcsim.server)
    for kind in ("hosts", "vms"):
        for live in sorted((out / kind).glob("*.json")):
            a, b = json.loads(live.read_text()), json.loads((saved_records / kind / live.name).read_text())
            a.pop("source"), b.pop("source")
            assert a.keys() == b.keys()
            for key in ("cpu_feature", "feature_capability", "feature_requirement", "feature_mask",
                        "max_evc_mode", "cluster", "datastores", "networks", "host", "power_state", "devices"):
                if key in a:
                    assert a[key] == b[key], (live.name, key)


def test_vm_record_is_its_requirements_not_its_host(saved_records):
    """A VM that needs less than its host: compare judges what the VM requires."""
    vm = json.loads((saved_records / "vms" / "vcenter.json").read_text())
    features = decode(read_dump(saved_records / "vms" / "vcenter.json")).features
    host = decode(read_dump(saved_records / "hosts" / f"{HOST}.json")).features
    assert "avx2" in host and "avx2" not in features  # the vCenter VM was booted without AVX2
    assert "cpuid.avx2" not in vm["feature_requirement"]
    assert features < host | features and len(features) < len(host)


def test_mixes_with_linux_hosts(saved_records):
    """A vSphere host and a Linux host's `cpuid -r` dump in one baseline."""
    from tests.conftest import TEST_DATA

    linux = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
    host = saved_records / "hosts" / f"{HOST}.json"
    result = runner.invoke(app, ["baseline", str(host), str(linux), "--cross-vendor", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert "sse4_2" in json.dumps(document)
    result = runner.invoke(app, ["decode", str(host)])
    assert result.exit_code == 0 and "vsphere-host" in result.stdout


def test_fleet_reads_host_records(saved_records):
    host = str(saved_records / "hosts" / f"{HOST}.json")
    result = runner.invoke(app, ["fleet", host, host, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hosts"] == 2 and "avx2" in json.loads(result.stdout)["features"]


def test_decode_json_marks_the_vsphere_origin(saved_records):
    result = runner.invoke(app, ["decode", str(saved_records / "vms" / "vcenter.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert "vsphere-vm" in result.stdout


def test_paged_retrieval_is_the_same(sddc_vcsim):
    """maxObjects=2: RetrievePropertiesEx then ContinueRetrievePropertiesEx until no token."""
    from cpucompat.vsphere.collect import retrieve

    si = sddc_vcsim.si()
    whole, paged = retrieve(si, page=1000), retrieve(si, page=2)
    assert len(whole.objects) == len(paged.objects) > 30
    assert sorted((o.ref, json.dumps(o.props, sort_keys=True)) for o in whole.objects) == \
        sorted((o.ref, json.dumps(o.props, sort_keys=True)) for o in paged.objects)


def test_a_vm_record_is_never_taken_for_a_host(saved_records):
    """A VM record is what the VM requires, not a CPU: as a host (baseline, evc check, compare's
    TARGET, mask --target, fleet) it is one error line, exit 2; in a folder fleet skips it, so
    `fleet DIR` on what `vsphere collect -o DIR` wrote sees the one real host (intel-broadwell)."""
    host, vm = str(saved_records / "hosts" / f"{HOST}.json"), str(saved_records / "vms" / "vcenter.json")
    for args in (["baseline", host, vm], ["evc", "check", vm], ["compare", host, vm], ["fleet", vm],
                 ["mask", vm, "--target", vm], ["mask", host, "--format", "vmx-evc", "--target", vm]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {vm}: a vSphere VM record is what a VM requires"), lines
    result = runner.invoke(app, ["compare", vm, host, "--json"])  # as SOURCE it is the point
    assert result.exit_code == 0 and json.loads(result.stdout)["targets"][0]["verdict"] == "compatible"
    result = runner.invoke(app, ["fleet", str(saved_records), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["hosts"] == 1 and "intel-broadwell" in json.dumps(document)
    assert result.stderr.count("a vSphere VM record is what a VM requires") == len(VMS)


def test_evc_check_compare_and_fleet_mix_it_with_a_linux_host(saved_records):
    """The VMC host beside a real Haswell-EP dump (InstLatx64): evc check gives each its own mode
    and the pair intel-haswell; fleet reads both as one Intel fleet at intel-haswell; compare judges
    a real VM's requirements against the Linux host (the NSX Edge needs Broadwell's ADX/RDSEED/SMAP)."""
    host = str(saved_records / "hosts" / f"{HOST}.json")
    haswell = str(reference("dumps", "instlatx64", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt"))
    result = runner.invoke(app, ["evc", "check", host, haswell, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [h["max_evc_mode"] for h in document["hosts"]] == ["intel-broadwell", "intel-haswell"]
    assert document["cluster"]["max_evc_mode"] == "intel-haswell"
    result = runner.invoke(app, ["fleet", host, haswell, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["hosts"] == 2 and document["vendor"] == "GenuineIntel" and "intel-haswell" in json.dumps(document["evc_mode"])
    edge = str(saved_records / "vms" / "NSX-Edge-0.json")
    result = runner.invoke(app, ["compare", edge, haswell, "--json"])
    assert result.exit_code == 1, result.output
    missing = {m["name"] for m in json.loads(result.stdout)["targets"][0]["missing"]}
    assert {"adx", "rdseed", "smap"} <= missing and "avx2" not in missing
