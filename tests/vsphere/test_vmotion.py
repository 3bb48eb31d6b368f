"""The seed's vMotion check: scenarios built on vcsim through the API, one per blocker, each
detected with its remedy; a clean VM moves; the CPU condition from real VMs' requirements."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from tests.conftest import reference
from tests.vsphere.conftest import Vcsim

runner = CliRunner()


def wait(task):
    from pyVim.task import WaitForTask

    WaitForTask(task)


def reconfigure(vm, *changes, **spec):
    from pyVmomi import vim

    wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=list(changes), **spec)))


def device_change(device, operation="add", file_operation=None):
    from pyVmomi import vim

    change = vim.vm.device.VirtualDeviceSpec(operation=operation, device=device)
    if file_operation:
        change.fileOperation = file_operation
    return change


def connected():
    from pyVmomi import vim

    return vim.vm.device.VirtualDevice.ConnectInfo(connected=True, startConnected=True, allowGuestControl=False)


@pytest.fixture(scope="module")
def scenario(vcsim_binary, tmp_path_factory):
    """One cluster of 3 hosts and 8 VMs; VM0 stays clean, VM1..VM6 get one blocker each, and the
    third host loses its vMotion VMkernel interface. Returns (vcsim, {role: VM name}, hosts)."""
    from pyVmomi import vim

    sim = Vcsim(vcsim_binary, "-cluster", "1", "-cluster-host", "3", "-host", "0", "-vm", "8")
    si = sim.si()
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    vms = sorted(view.view, key=lambda v: v.name)
    # vcsim's VMs come with a CD-ROM on the host's device: disconnect it first (a blocker of its own).
    for vm in vms:
        for device in vm.config.hardware.device:
            if isinstance(device, vim.vm.device.VirtualCdrom):
                device.connectable.connected = device.connectable.startConnected = False
                reconfigure(vm, device_change(device, "edit"))
    host_of = {vm.name: vm.runtime.host for vm in vms}
    clean, cdrom, affinity, portgroup, datastore, shared, serial = vms[:7]
    roles = {"clean": clean, "cdrom": cdrom, "affinity": affinity, "portgroup": portgroup, "datastore": datastore,
             "shared-bus": shared, "serial": serial}

    ide = next(d for d in cdrom.config.hardware.device if isinstance(d, vim.vm.device.VirtualIDEController))
    reconfigure(cdrom, device_change(vim.vm.device.VirtualCdrom(
        key=-1, controllerKey=ide.key, unitNumber=1, connectable=connected(),
        backing=vim.vm.device.VirtualCdrom.AtapiBackingInfo(deviceName="/dev/sr0"))))

    reconfigure(affinity, cpuAffinity=vim.vm.AffinityInfo(affinitySet=[0, 1]))

    network_system = host_of[portgroup.name].configManager.networkSystem
    network_system.AddPortGroup(vim.host.PortGroup.Specification(
        name="Only-Here", vlanId=0, vswitchName="vSwitch0", policy=vim.host.NetworkPolicy()))
    nic = next(d for d in portgroup.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard))
    nic.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName="Only-Here")
    reconfigure(portgroup, device_change(nic, "edit"))

    nas = tmp_path_factory.mktemp("nas") / "nas-one-host"  # vcsim serves the datastore from this folder
    nas.mkdir()
    host_of[datastore.name].configManager.datastoreSystem.CreateNasDatastore(vim.host.NasVolume.Specification(
        remoteHost="127.0.0.1", remotePath="/export/nas", localPath=str(nas), accessMode="readWrite", type="NFS"))
    scsi = next(d for d in datastore.config.hardware.device if isinstance(d, vim.vm.device.VirtualSCSIController))
    reconfigure(datastore, device_change(vim.vm.device.VirtualDisk(
        key=-2, controllerKey=scsi.key, unitNumber=3, capacityInKB=1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName="[nas-one-host] extra.vmdk", diskMode="persistent")),
        file_operation="create"))

    reconfigure(shared, device_change(vim.vm.device.VirtualLsiLogicController(
        key=-3, busNumber=1, sharedBus="physicalSharing")))

    reconfigure(serial, device_change(vim.vm.device.VirtualSerialPort(
        key=-4, yieldOnPoll=True, connectable=connected(),
        backing=vim.vm.device.VirtualSerialPort.DeviceBackingInfo(deviceName="/dev/ttyS0"))))

    hosts = sorted({h.name for h in host_of.values()} | {h.name for h in content.viewManager.CreateContainerView(
        content.rootFolder, [vim.HostSystem], True).view})
    others = [h for h in hosts if h != host_of[clean.name].name]
    no_vmotion = next(h for h in content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True).view
                      if h.name == others[-1])
    no_vmotion.configManager.virtualNicManager.DeselectVnicForNicType("vmotion", "vmk0")
    names = {role: vm.name for role, vm in roles.items()}
    names["no-vmotion-host"] = others[-1]
    yield sim, names, hosts, {vm.name: host_of[vm.name].name for vm in vms}
    sim.stop()


def run_check(sim, *args):
    result = runner.invoke(app, ["vmotion", "check", "--server", sim.server, "--json", *args],
                           env={"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"})
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def blockers(document, vm, target=None):
    return {(b["check"], b["what"]): b["remedy"] for m in document["moves"]
            if m["vm"] == vm and (target is None or m["to"] == target) for b in m["blockers"]}


def test_clean_vm_moves(scenario):
    sim, names, hosts, host_of = scenario
    ok_host = next(h for h in hosts if h not in (host_of[names["clean"]], names["no-vmotion-host"]))
    code, document = run_check(sim, names["clean"], "--to", ok_host)
    assert code == 0 and document["moves"][0]["can_move"] is True and document["moves"][0]["blockers"] == []


@pytest.mark.parametrize("role, check, remedy", [
    ("cdrom", "host-device", "Disconnect"),
    ("affinity", "cpu-affinity", "Remove the VM's CPU affinity"),
    ("portgroup", "port-group", "Create port group Only-Here on the target (same name, case included)"),
    ("datastore", "datastore", "mount nas-one-host on the target"),
    ("shared-bus", "scsi-bus-sharing", "Set SCSI Bus Sharing"),
    ("serial", "physical-port", "physical port"),
])
def test_each_blocker_with_its_remedy(scenario, role, check, remedy):
    sim, names, hosts, host_of = scenario
    vm = names[role]
    code, document = run_check(sim, vm)
    assert code == 1
    for move in document["moves"]:
        found = {b["check"]: b["remedy"] for b in move["blockers"]}
        assert check in found, (move, check)
        assert remedy in found[check]
        others = set(found) - {check, "vmotion-vmknic"}
        assert not others, (role, found)


def test_target_without_vmotion_vmknic(scenario):
    sim, names, hosts, host_of = scenario
    code, document = run_check(sim, names["clean"], "--to", names["no-vmotion-host"])
    assert code == 1
    found = blockers(document, names["clean"])
    assert list(found) == [("vmotion-vmknic", names["no-vmotion-host"])]
    assert "Enable the vMotion service on a VMkernel adapter" in found[("vmotion-vmknic", names["no-vmotion-host"])]


def test_cluster_matrix_table(scenario):
    sim, names, hosts, host_of = scenario
    result = runner.invoke(app, ["vmotion", "check", "--server", sim.server, "--cluster", "DC0_C0"],
                           env={"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"})
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("blocked: ") and lines[1].split()[1:] == hosts
    row = next(line for line in lines if line.startswith(names["clean"] + " "))
    assert "ok" in row and "(here)" in row and "NO(1)" in row
    assert "fix: Remove the VM's CPU affinity" in result.stdout


def test_unknown_names_are_bad_input(scenario):
    sim, names, hosts, host_of = scenario
    result = runner.invoke(app, ["vmotion", "check", "--server", sim.server, "no-such-vm"],
                           env={"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"})
    assert result.exit_code == 2 and "unknown VM: no-such-vm" in result.stderr


def test_cpu_from_the_vms_requirements(tmp_path):
    """The real NSX Edge requires AVX2 (Broadwell); a Sandy Bridge host lacks it: a CPU blocker
    naming the missing features, with the seed's remedy. The vCenter VM, booted without AVX2, has
    fewer needs."""
    out = tmp_path / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(out)])
    assert result.exit_code == 0
    host = json.loads((out / "hosts" / "10.2.32.4.json").read_text())
    older = dict(host, name="sandy", moid="host-99",
                 feature_capability={k: v for k, v in host["feature_capability"].items()
                                     if k.lower() not in ("cpuid.avx2", "cpuid.bmi1", "cpuid.bmi2", "cpuid.fma",
                                                          "cpuid.movbe", "cpuid.adx", "cpuid.rdseed", "cpuid.smap")})
    older["feature_capability"].update({"cpuid.avx2": "0", "cpuid.fma": "0"})
    (out / "hosts" / "sandy.json").write_text(json.dumps(older))
    result = runner.invoke(app, ["vmotion", "check", "--records", str(out), "NSX-Edge-0", "--to", "sandy", "--json"])
    assert result.exit_code == 1, result.output
    cpu = [b for b in json.loads(result.stdout)["moves"][0]["blockers"] if b["check"] == "cpu"]
    assert len(cpu) == 1 and "avx2" in cpu[0]["detail"] and "EVC" in cpu[0]["remedy"]
    result = runner.invoke(app, ["compare", str(out / "vms" / "NSX-Edge-0.json"), str(out / "hosts" / "sandy.json")])
    assert result.exit_code == 1
    shutil.rmtree(out)


def test_html_map(scenario, tmp_path):
    """The map renders in headless Chromium with no console error, and shows the blockers in red
    with their remedies; the screenshot is kept (tmp_path/map.png) for a person to look at."""
    from tests.browser import assert_png, render

    sim, names, hosts, host_of = scenario
    page = tmp_path / "map.html"
    result = runner.invoke(app, ["vmotion", "check", "--server", sim.server, "--cluster", "DC0_C0", "--html", str(page)],
                           env={"CPUCOMPAT_VSPHERE_PASSWORD": "pass", "CPUCOMPAT_VSPHERE_USER": "user"})
    assert result.exit_code == 1, result.output
    text = page.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in text
    assert "Fix: Remove the VM&#x27;s CPU affinity" in text and 'class="blocker"' in text
    assert 'stroke="#c62828"' in text and 'stroke="#2e7d32"' in text
    rendered = render(page, tmp_path, width=1000, height=1400)  # skips without chromium
    shot = rendered.screenshot
    assert_png(shot)
    assert "vMotion map" in rendered.dom and "cpu-affinity" in rendered.dom
    assert not rendered.console, rendered.console
    print(f"map screenshot: {shot}")


@pytest.fixture(scope="module")
def sddc(tmp_path_factory):
    """The real VMC host and NSX-Edge-0 as records, and a second host that is the same host."""
    out = tmp_path_factory.mktemp("sddc") / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(out)])
    assert result.exit_code == 0
    host = json.loads((out / "hosts" / "10.2.32.4.json").read_text())
    vm = json.loads((out / "vms" / "NSX-Edge-0.json").read_text())
    return host, vm


def judged(host, vm, other_changes=None, vm_changes=None):
    from cpucompat.vsphere.vmotion import check

    other = json.loads(json.dumps(host))
    other.update(name="twin", moid="host-2", **(other_changes or {}))
    vm = dict(json.loads(json.dumps(vm)), **(vm_changes or {}))
    (move,) = check([vm], [other], [host, other])
    return {b.check: b for b in move.blockers}, move


def test_the_same_host_twice_can_take_every_vm(sddc):
    blockers, move = judged(*sddc)
    assert not blockers and move.can_move


def test_rdm_lun_not_visible_on_target(sddc):
    host, vm = sddc
    rdm = {"kind": "disk", "label": "Hard disk 2", "connected": False, "file": "[vsanDatastore] x/rdm.vmdk",
           "datastore": "vsanDatastore", "rdm": {"lun_uuid": "0200000000abcdef", "device": "/vmfs/devices/x",
                                                 "mode": "physicalMode"}}
    blockers, _ = judged(host, vm, vm_changes={"devices": vm["devices"] + [rdm]})
    assert list(blockers) == ["rdm"] and "visible to both hosts" in blockers["rdm"].remedy
    blockers, _ = judged(host, vm, {"scsi_luns": host["scsi_luns"] + ["0200000000abcdef"]},
                         {"devices": vm["devices"] + [rdm]})
    assert not blockers


def test_iso_on_storage_the_target_cannot_reach(sddc):
    host, vm = sddc
    iso = {"kind": "cdrom", "label": "CD/DVD drive 1", "connected": True, "backing": "image",
           "file": "[local-iso] os.iso", "datastore": "local-iso"}
    blockers, _ = judged(host, vm, vm_changes={"devices": vm["devices"] + [iso]})
    assert list(blockers) == ["media-image"] and "Disconnect CD/DVD drive 1" in blockers["media-image"].remedy
    blockers, _ = judged(host, vm, vm_changes={"devices": vm["devices"] + [dict(iso, connected=False)]})
    assert not blockers


def test_network_without_uplinks(sddc):
    host, vm = sddc
    blockers, _ = judged(host, vm, {"networks_without_uplinks": ["mgmt-ls"]})
    assert list(blockers) == ["no-uplink"] and "VMOnVirtualIntranet" in blockers["no-uplink"].remedy


def test_swap_space_on_the_target(sddc):
    host, vm = sddc
    full = {name: dict(ds, free=1024 * 1024) for name, ds in host["datastores"].items()}
    blockers, _ = judged(host, vm, {"datastores": full}, {"memory_reservation_mb": 0})
    assert list(blockers) == ["swap"] and "swap file" in blockers["swap"].remedy
    blockers, _ = judged(host, vm, {"datastores": full})  # memory fully reserved: no swap file
    assert not blockers


def test_port_group_names_compare_exactly(sddc):
    host, vm = sddc
    renamed = [n.upper() if n == "mgmt-ls" else n for n in host["networks"]]
    blockers, _ = judged(host, vm, {"networks": renamed})
    assert list(blockers) == ["port-group"] and blockers["port-group"].what == "mgmt-ls"


def test_powered_off_vm_needs_no_cpu(sddc):
    host, vm = sddc
    no_avx2 = {k: v for k, v in host["feature_capability"].items() if k.lower() != "cpuid.avx2"}
    no_avx2["cpuid.avx2"] = "0"
    blockers, _ = judged(host, vm, {"feature_capability": no_avx2})
    assert list(blockers) == ["cpu"] and "avx2" in blockers["cpu"].detail
    blockers, move = judged(host, vm, {"feature_capability": no_avx2},
                            {"feature_requirement": {}, "power_state": "poweredOff"})
    assert not blockers and "powered off" in move.notes[0]
