"""Networks without uplinks on distributed switches: a distributed port group is judged by whether
its switch has a physical NIC of the host (the host member's pnic backing, DVS config.host), on
the real VMC inventory offline and on a scenario built on vcsim through the API."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from tests.conftest import reference

runner = CliRunner()
ENV = {"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"}
HOST = "10.2.32.4"


def host_record(save, tmp_path):
    out = tmp_path / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(save), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "hosts" / f"{HOST}.json").read_text())


def test_real_distributed_switch_has_its_uplink(tmp_path):
    """VMC's vmc-hostswitch gives host-14 vmnic0: none of its 22 distributed port groups lacks an uplink."""
    record = host_record(reference("vsphere", "govc-sddc"), tmp_path)
    distributed = [n for n in record["networks"] if n != "VM Network"]
    assert len(distributed) >= 20
    assert record["networks_without_uplinks"] == [] and record["distributed_without_uplinks"] == {}


def test_real_distributed_switch_without_the_hosts_nic(tmp_path):
    """The same save with the host's NIC taken off the switch (the host member's pnicSpec, and the
    host's proxy switch pnic): every non-uplink port group of the switch is without uplinks on that
    host, and a VM using one cannot move there."""
    save = tmp_path / "save"
    shutil.copytree(reference("vsphere", "govc-sddc"), save)
    dvs = next(save.glob("*-VmwareDistributedVirtualSwitch-*.xml"))
    text, count = re.subn(r"<pnicSpec>.*?</pnicSpec>", "", dvs.read_text(), flags=re.S)
    assert count == 1
    dvs.write_text(text)
    host = next(save.glob("*-HostSystem-*.xml"))
    proxies = re.findall(r"<proxySwitch>.*?</proxySwitch>", host.read_text(), flags=re.S)
    assert proxies and all("<pnic>" in p for p in proxies)
    text = host.read_text()
    for proxy in proxies:
        text = text.replace(proxy, re.sub(r"<pnic>[^<]*</pnic>|<pnicSpec>.*?</pnicSpec>", "", proxy, flags=re.S))
    host.write_text(text)
    record = host_record(save, tmp_path)
    unlinked = record["distributed_without_uplinks"]
    assert unlinked and set(unlinked.values()) == {"vmc-hostswitch"}
    assert set(unlinked) <= set(record["networks_without_uplinks"]) and "VM Network" not in unlinked
    # a second host as the real one was, with its uplink: the VM's current host is the one lacking it
    twin = dict(host_record(reference("vsphere", "govc-sddc"), tmp_path / "twin"), name="10.2.32.5", moid="host-15")
    (tmp_path / "records" / "hosts" / "10.2.32.5.json").write_text(json.dumps(twin))
    result = runner.invoke(app, ["vmotion", "check", "vcenter", "--to", "10.2.32.5", "--records",
                                 str(tmp_path / "records"), "--json"])
    move = json.loads(result.stdout)["moves"][0]
    found = [b for b in move["blockers"] if b["check"] == "no-dvs-uplink"]
    assert found and all("vmc-hostswitch has no physical uplink on 10.2.32.4" in b["detail"] for b in found)
    assert "Manage physical adapters" in found[0]["remedy"]


@pytest.fixture
def dvs_scenario(make_vcsim):
    """A cluster of 3 hosts and a VM on DC0_DVPG0; the distributed switch has vmnic1 of the VM's
    host and of a second host as uplinks, and nothing of the third."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    sim = make_vcsim("-cluster", "1", "-cluster-host", "3", "-host", "0", "-vm", "1", "-dvs-uplinks")
    content = sim.si().RetrieveContent()

    def view(kind):
        return content.viewManager.CreateContainerView(content.rootFolder, [kind], True).view

    vm = view(vim.VirtualMachine)[0]
    dvs = view(vim.DistributedVirtualSwitch)[0]
    group = next(g for g in dvs.portgroup if not g.config.uplink and g.name.endswith("DVPG0"))
    home = vm.runtime.host
    linked, bare = sorted((h for h in view(vim.HostSystem) if h != home), key=lambda h: h.name)

    def member(host, nics):
        pnic = vim.dvs.HostMember.PnicBacking(pnicSpec=[vim.dvs.HostMember.PnicSpec(pnicDevice=n) for n in nics])
        return vim.dvs.HostMember.ConfigSpec(operation="edit", host=host, backing=pnic)

    WaitForTask(dvs.ReconfigureDvs_Task(vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
        configVersion=dvs.config.configVersion,
        host=[member(home, ["vmnic1"]), member(linked, ["vmnic1"]), member(bare, [])])))
    changes = []
    for device in vm.config.hardware.device:
        if isinstance(device, vim.vm.device.VirtualCdrom):  # vcsim's VMs come with a host CD-ROM
            device.connectable.connected = device.connectable.startConnected = False
            changes.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=device))
        elif isinstance(device, vim.vm.device.VirtualEthernetCard):
            # by port group name (scripts/vcsim/main.go: -dvs-uplinks); vCenter would take a port backing
            device.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=group.name)
            changes.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=device))
    WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=changes)))
    return sim, vm.name, group.name, dvs.name, linked.name, bare.name


def test_distributed_port_group_without_uplink_on_the_target(dvs_scenario):
    sim, vm, group, switch, linked, bare = dvs_scenario
    result = runner.invoke(app, ["vmotion", "check", vm, "--to", linked, "--to", bare, "--server", sim.server,
                                 "--json"], env=ENV)
    assert result.exit_code == 1, result.output
    moves = {m["to"]: m for m in json.loads(result.stdout)["moves"]}
    assert moves[linked]["can_move"] and moves[linked]["blockers"] == []  # the clean case
    [blocker] = moves[bare]["blockers"]
    assert (blocker["check"], blocker["what"]) == ("no-dvs-uplink", group)
    assert blocker["detail"] == f"{group}: distributed switch {switch} has no physical uplink on {bare}"
    assert "Add a physical NIC of each host to the uplinks of the distributed switch" in blocker["remedy"]
