"""The seed's vMotion conditions that test_vmotion.py judges on records, here as scenarios built on
vcsim through the API: a CD-ROM image on a datastore only the VM's host mounts, and a target
whose swap location has no room for the VM's swap file. (A network without uplinks is the
distributed-switch scenario of test_dvs_uplinks.py: vcsim 0.24 refuses a standard port group of
the same name on a second host. vcsim 0.24 cannot add an RDM disk: its server drops the
connection, so the RDM condition is judged on the real inventory's records in test_vmotion.py.)"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from tests.vsphere.test_vmotion import connected, device_change, reconfigure

runner = CliRunner()
ENV = {"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"}


def vms_of(sim):
    from pyVmomi import vim

    content = sim.si().RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    vms = sorted(view.view, key=lambda v: v.name)
    for vm in vms:  # vcsim's VMs come with a CD-ROM on the host's device: a blocker of its own
        for device in vm.config.hardware.device:
            if isinstance(device, vim.vm.device.VirtualCdrom):
                device.connectable.connected = device.connectable.startConnected = False
                reconfigure(vm, device_change(device, "edit"))
    return vms


def moves(sim, vm_name):
    result = runner.invoke(app, ["vmotion", "check", "--server", sim.server, "--json", vm_name], env=ENV)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["moves"]


def only(move) -> dict:
    return {b["check"]: b for b in move["blockers"]}


@pytest.fixture(scope="module")
def scenario(vcsim_binary, tmp_path_factory):
    """One cluster of 2 hosts and 2 VMs; the first gets an ISO on its host's own NFS datastore."""
    from pyVmomi import vim

    from tests.vsphere.conftest import Vcsim

    sim = Vcsim(vcsim_binary, "-cluster", "1", "-cluster-host", "2", "-host", "0", "-vm", "2")
    vms = vms_of(sim)
    iso = vms[0]

    nas = tmp_path_factory.mktemp("iso") / "iso-one-host"
    nas.mkdir()
    iso.runtime.host.configManager.datastoreSystem.CreateNasDatastore(vim.host.NasVolume.Specification(
        remoteHost="127.0.0.1", remotePath="/export/iso", localPath=str(nas), accessMode="readOnly", type="NFS"))
    ide = next(d for d in iso.config.hardware.device if isinstance(d, vim.vm.device.VirtualIDEController))
    reconfigure(iso, device_change(vim.vm.device.VirtualCdrom(
        key=-1, controllerKey=ide.key, unitNumber=1, connectable=connected(),
        backing=vim.vm.device.VirtualCdrom.IsoBackingInfo(fileName="[iso-one-host] os.iso"))))

    yield sim, {"iso": iso.name, }
    sim.stop()


def test_iso_on_storage_only_the_vm_host_mounts(scenario):
    sim, names = scenario
    code, found = moves(sim, names["iso"])
    assert code == 1 and len(found) == 1
    blockers = only(found[0])
    assert list(blockers) == ["media-image"], blockers
    assert "iso-one-host" in blockers["media-image"]["detail"]
    assert blockers["media-image"]["remedy"] == (f"Disconnect {blockers['media-image']['what']} or move its image "
                                                 "to storage the target reaches.")


def test_no_room_for_the_swap_file(make_vcsim):
    """The VM's home datastore (where its swap file goes) filled by a large disk of another VM:
    the VM's swap file does not fit on the target; once the disk is removed, it does."""
    from pyVmomi import vim

    sim = make_vcsim("-cluster", "1", "-cluster-host", "2", "-host", "0", "-vm", "2")
    vm, filler = vms_of(sim)
    datastore = next(d for d in vm.datastore if d.name == "LocalDS_0")
    free_kb = datastore.summary.freeSpace // 1024
    need_mb = vm.config.hardware.memoryMB
    scsi = next(d for d in filler.config.hardware.device if isinstance(d, vim.vm.device.VirtualSCSIController))
    reconfigure(filler, device_change(vim.vm.device.VirtualDisk(
        key=-2, controllerKey=scsi.key, unitNumber=3, capacityInKB=free_kb - need_mb * 1024 // 2,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName=f"[LocalDS_0] {filler.name}/big.vmdk",
                                                              diskMode="persistent", thinProvisioned=True)),
        file_operation="create"))
    code, found = moves(sim, vm.name)
    assert code == 1
    blockers = only(found[0])
    assert list(blockers) == ["swap"], blockers
    assert f"{need_mb} MB swap file" in blockers["swap"]["detail"] and "swap file" in blockers["swap"]["remedy"]
    big = next(d for d in filler.config.hardware.device
               if isinstance(d, vim.vm.device.VirtualDisk) and d.backing.fileName.endswith("big.vmdk"))
    reconfigure(filler, device_change(big, "remove", file_operation="destroy"))  # the remedy: free space
    code, found = moves(sim, vm.name)
    assert code == 0 and found[0]["blockers"] == [], found
