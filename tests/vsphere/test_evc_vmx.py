"""Per-VM EVC: the .vmx block (mask --format vmx-evc) and `vsphere apply-evc` through vcsim."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from tests.conftest import reference

runner = CliRunner()
ENV = {"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("evc") / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(out)])
    assert result.exit_code == 0
    return out


def vmx_lines(text):
    return dict(re.findall(r'^(\S+) = "([^"]*)"$', text, re.M))


def test_merom_block_is_vcenters_own_featuremask(records):
    """vCenter 8.0.3's intel-merom featureMask, read from a VM with per-VM EVC, line for line."""
    captured = json.loads(reference("vsphere", "evc-intel-merom-featuremask.json").read_text())["featureMask"]
    result = runner.invoke(app, ["mask", str(records / "vms" / "NSX-Edge-0.json"), "--evc", "intel-merom", "-f", "vmx-evc"])
    assert result.exit_code == 0, result.output
    lines = vmx_lines(result.stdout)
    assert lines.pop("featureCompat.vm.completeMasks") == "TRUE"
    assert lines == {f"featMask.vm.{k}": v for k, v in captured.items()}
    assert not any(k.startswith("featMask.evc.") for k in lines)


def test_target_picks_the_highest_common_mode(records):
    result = runner.invoke(app, ["mask", str(records / "vms" / "vcenter.json"), "--target",
                                 str(records / "hosts" / "10.2.32.4.json"), "-f", "vmx-evc"])
    assert result.exit_code == 0, result.output
    assert "per-VM EVC intel-broadwell" in result.stdout
    lines = vmx_lines(result.stdout)
    assert lines["featMask.vm.cpuid.AVX2"] == "Val:1" if "featMask.vm.cpuid.AVX2" in lines else True
    assert lines["featMask.vm.cpuid.MODEL"] == "Val:0x4f"


def test_apply_evc_through_vcenter(vcsim_binary):
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    from tests.vsphere.conftest import Vcsim

    sim = Vcsim(vcsim_binary, "-cluster", "0", "-host", "1", "-vm", "1", "-evc-vms")
    try:
        content = sim.si().RetrieveContent()
        vm = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True).view[0]

        def apply(*extra):
            return runner.invoke(app, ["vsphere", "apply-evc", vm.name, "intel-haswell", "--server", sim.server, *extra],
                                 env=ENV)

        result = apply("--yes")
        assert result.exit_code == 2 and "is poweredOn: per-VM EVC is applied to a powered-off VM only" in result.stderr
        WaitForTask(vm.PowerOffVM_Task())
        result = apply("--yes")
        assert result.exit_code == 2 and "hardware version vmx-13" in result.stderr and "vmx-14" in result.stderr
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-14")))  # vcsim 0.24 upgrades only to vmx-13
        result = apply()  # dry run: prints the change, changes nothing
        assert result.exit_code == 0, result.output
        assert 'featureCompat.vm.completeMasks = "TRUE"' in result.stdout and "dry run" in result.stderr
        assert not vm.runtime.featureMask
        result = apply("--yes")
        assert result.exit_code == 0, result.output
        expected = {k.removeprefix("featMask.vm."): v for k, v in vmx_lines(result.stdout).items() if k.startswith("featMask.")}
        assert {m.key: m.value for m in vm.runtime.featureMask} == expected
        # read back through `vsphere collect`: the VM record carries the mode's featureMask
        result = runner.invoke(app, ["vsphere", "collect", "--server", sim.server], env=ENV)
        record = next(v for v in json.loads(result.stdout)["vms"] if v["name"] == vm.name)
        assert record["feature_mask"] == expected and record["hardware_version"] == "vmx-14"
    finally:
        sim.stop()


def test_apply_evc_unknown_mode(vcsim_binary):
    result = runner.invoke(app, ["vsphere", "apply-evc", "vm", "intel-nosuch", "--server", "http://127.0.0.1:9"], env=ENV)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
