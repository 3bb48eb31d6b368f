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
        assert result.exit_code == 2 and "is poweredOn: a per-VM CPU mask is applied to a powered-off VM only" in result.stderr
        WaitForTask(vm.PowerOffVM_Task())
        result = apply("--yes")
        assert result.exit_code == 2 and "hardware version vmx-13" in result.stderr and "vmx-14" in result.stderr
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-14")))  # vcsim 0.24 upgrades only to vmx-13
        result = apply()  # dry run: prints the change, changes nothing
        assert result.exit_code == 0, result.output
        assert 'featureCompat.vm.completeMasks = "TRUE"' in result.stdout and "dry run" in result.stderr
        assert "(ApplyEvcModeVM_Task)" in result.stderr  # vCenter and host speak API 7.0.3, the VM is vmx-14
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


def legacy_lines(text):
    """``cpuFeatureMask[level 0x1].ecx = "----:..."`` lines: {(level, register): value}."""
    return {(int(level, 16), reg): value
            for level, reg, value in re.findall(r'^cpuFeatureMask\[level (0x[0-9a-f]+)\]\.(e[a-d]x) = "([^"]*)"$', text, re.M)}


def test_apply_evc_legacy_cpu_feature_mask(vcsim_binary):
    """vcsim speaks vSphere API 6.5 (no ApplyEvcModeVM_Task): a vmx-8 VM gets the legacy
    cpuFeatureMask of a ReconfigVM_Task, printed first, applied with --yes and read back; vmx-9..13
    and a vmx-14 VM on a host without per-VM EVC are refused with the reason."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    from cpucompat.knowledge.features import feature_table
    from tests.vsphere.conftest import Vcsim

    sim = Vcsim(vcsim_binary, "-cluster", "0", "-host", "1", "-vm", "1")
    try:
        content = sim.si().RetrieveContent()
        assert content.about.apiVersion == "6.5"
        vm = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True).view[0]

        def apply(*extra):
            return runner.invoke(app, ["vsphere", "apply-evc", vm.name, "intel-merom", "--server", sim.server, *extra],
                                 env=ENV)

        WaitForTask(vm.PowerOffVM_Task())
        result = apply("--yes")
        assert result.exit_code == 2 and "vmx-13" in result.stderr and "hardware version 8 and older" in result.stderr
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-14")))
        result = apply("--yes")
        assert result.exit_code == 2 and "needs vSphere API 6.7" in result.stderr and "vCenter speaks 6.5" in result.stderr
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-08")))
        result = apply()  # dry run
        assert result.exit_code == 0, result.output
        printed = legacy_lines(result.stdout)
        assert "dry run" in result.stderr and "cpuFeatureMask" in result.stderr and not vm.config.cpuFeatureMask
        # merom lacks SSE4.1 (leaf 1 ECX[19]) and has SSSE3 (bit 9); NUMLEVELS 0xa as vCenter's own mask says
        sse41 = feature_table().by_name["sse4_1"]
        ecx = printed[(1, "ecx")].replace(":", "")
        assert ecx[31 - sse41.bit] == "0" and ecx[31 - 9] == "-"
        assert printed[(0, "eax")].replace(":", "") == format(0xA, "032b")
        result = apply("--yes")
        assert result.exit_code == 0, result.output
        back = {(info.level & 0xFFFFFFFF, r): getattr(info, r) for info in vm.config.cpuFeatureMask
                for r in ("eax", "ebx", "ecx", "edx") if set(getattr(info, r)) != {"-", ":"}}
        assert back == printed
        result = runner.invoke(app, ["vsphere", "collect", "--server", sim.server], env=ENV)
        record = next(v for v in json.loads(result.stdout)["vms"] if v["name"] == vm.name)
        assert {(e["level"], r): e[r] for e in record["cpu_feature_mask"] for r in ("eax", "ebx", "ecx", "edx")
                if set(e.get(r, "-")) != {"-", ":"}} == printed
    finally:
        sim.stop()


def test_apply_evc_unknown_mode(vcsim_binary):
    result = runner.invoke(app, ["vsphere", "apply-evc", "vm", "intel-nosuch", "--server", "http://127.0.0.1:9"], env=ENV)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
