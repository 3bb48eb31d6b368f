"""Host fingerprints and VM records from a vSphere inventory (read back by ``formats/vsphere.py``).

A host record (``"format": "cpucompat-vsphere-host"``) keeps what vCenter says of one ESXi
host's CPU (``hardware.cpuFeature`` leaves, ``config.featureCapability``, ``summary.maxEVCModeKey``)
and what the vMotion checks need (cluster, datastores, networks and their uplinks, the vMotion
VMkernel interface, SCSI LUNs). A VM record (``"format": "cpucompat-vsphere-vm"``) keeps what the
running VM requires (``runtime.featureRequirement``), its masks, hardware version, power state,
devices, datastores, networks, CPU affinity and host.
"""

from __future__ import annotations

import re

from ..formats.vsphere import HOST_FORMAT, VERSION, VM_FORMAT
from .inventory import Inventory, Obj, as_list



# ----------------------------------------------------------------------------- building records


def _pairs(items, key="key", value="value") -> dict[str, str]:
    """featureCapability / featureRequirement / featureMask / extraConfig entries as a dict."""
    out = {}
    for item in as_list(items):
        if isinstance(item, dict) and item.get(key) is not None:
            out[str(item[key])] = "" if item.get(value) is None else str(item[value])
    return out


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _datastore_of(path) -> str | None:
    """``[WorkloadDatastore] vm/vm.vmx`` -> ``WorkloadDatastore``."""
    match = re.match(r"\s*\[([^\]]*)\]", path or "")
    return match.group(1) if match else None


def host_record(inv: Inventory, host: Obj) -> dict:
    parent = inv.lookup(host.get("parent"))
    cluster = parent.get("name") if parent is not None and parent.type == "ClusterComputeResource" else None
    cluster_summary = parent.get("summary") if cluster else None
    product = host.get("summary.config.product") or {}
    hardware = host.get("summary.hardware") or {}
    bios = host.get("hardware.biosInfo") or {}
    leaves = []
    for leaf in as_list(host.get("hardware.cpuFeature")):
        leaves.append({"level": _int(leaf.get("level"), 0) & 0xFFFFFFFF, "vendor": leaf.get("vendor") or "",
                       **{r: leaf.get(r) or "" for r in ("eax", "ebx", "ecx", "edx")}})
    datastores = {}
    for ref in as_list(host.get("datastore")):
        ds = inv.lookup(ref)
        if ds is not None:
            summary = ds.get("summary") or {}
            datastores[ds.get("name")] = {"free": _int(summary.get("freeSpace")),
                                          "accessible": str(summary.get("accessible", "true")).lower() != "false"}
    networks = {inv.name_of(ref) for ref in as_list(host.get("network")) if inv.name_of(ref)}
    networks |= {g["spec"]["name"] for g in as_list(host.get("config.network.portgroup"))
                 if isinstance(g, dict) and isinstance(g.get("spec"), dict) and g["spec"].get("name")}
    unlinked = _distributed_without_uplinks(inv, host)
    return {
        "format": HOST_FORMAT, "version": VERSION, "source": inv.source,
        "moid": host.moid, "name": host.get("name") or host.moid,
        "cluster": cluster,
        "cluster_evc_mode": (cluster_summary or {}).get("currentEVCModeKey") if isinstance(cluster_summary, dict) else None,
        "connection_state": host.get("runtime.connectionState"),
        "cpu_model": hardware.get("cpuModel"),
        "system": {"vendor": hardware.get("vendor"), "model": hardware.get("model")},
        "bios": {"version": bios.get("biosVersion"), "release_date": bios.get("releaseDate"), "vendor": bios.get("vendor")},
        "esxi": {"name": product.get("fullName"), "version": product.get("version"), "build": product.get("build"),
                 "api_version": product.get("apiVersion")},
        "max_evc_mode": host.get("summary.maxEVCModeKey") or None,
        "current_evc_mode": host.get("summary.currentEVCModeKey") or None,
        "cpu_feature": leaves,
        "feature_capability": _pairs(host.get("config.featureCapability"), "featureName"),
        "datastores": datastores,
        "networks": sorted(networks),
        "networks_without_uplinks": sorted(_networks_without_uplinks(host) | set(unlinked)),
        "distributed_without_uplinks": unlinked,
        "vmotion_vnics": _vmotion_vnics(host),
        "scsi_luns": sorted({lun.get("uuid") for lun in as_list(host.get("config.storageDevice.scsiLun"))
                             if isinstance(lun, dict) and lun.get("uuid")}),
        "local_swap_datastore": inv.name_of(host.get("config.localSwapDatastore")),
    }


def _networks_without_uplinks(host: Obj) -> set[str]:
    """Standard port groups whose virtual switch has no physical NIC (an "internal" network)."""
    switches = {s.get("name"): bool(as_list(s.get("pnic"))) for s in as_list(host.get("config.network.vswitch"))
                if isinstance(s, dict)}
    out = set()
    for group in as_list(host.get("config.network.portgroup")):
        spec = group.get("spec") if isinstance(group, dict) else None
        if isinstance(spec, dict) and switches.get(spec.get("vswitchName"), True) is False:
            out.add(spec.get("name"))
    return out


def _distributed_without_uplinks(inv: Inventory, host: Obj) -> dict[str, str]:
    """Distributed port groups of this host whose switch has no physical NIC of this host as an
    uplink: {port group: switch}. Uplink port groups themselves are left out."""
    proxies = {p.get("dvsUuid"): p for p in as_list(host.get("config.network.proxySwitch")) if isinstance(p, dict)}
    out = {}
    for ref in as_list(host.get("network")):
        group = inv.lookup(ref)
        if group is None or group.type != "DistributedVirtualPortgroup" or str(group.get("config.uplink")).lower() == "true":
            continue
        switch = inv.lookup(group.get("config.distributedVirtualSwitch"))
        if switch is not None and _uplinked(switch, host, proxies) is False:
            out[group.get("name")] = switch.get("name")
    return dict(sorted(out.items()))


def _uplinked(switch: Obj, host: Obj, proxies: dict) -> bool | None:
    """Whether a distributed switch has a physical NIC of this host: the host member's backing
    (``config.host[].config.backing.pnicSpec``) or the host's proxy switch (``pnic``); None when
    the inventory says neither."""
    said = []
    for member in as_list(switch.get("config.host")):
        config = member.get("config") if isinstance(member, dict) else None
        if isinstance(config, dict) and config.get("host") == host.ref:
            backing = config.get("backing") if isinstance(config.get("backing"), dict) else {}
            said.append(any(isinstance(s, dict) and s.get("pnicDevice") for s in as_list(backing.get("pnicSpec"))))
    proxy = proxies.get(switch.get("uuid"))
    if proxy is not None:
        said.append(bool(as_list(proxy.get("pnic"))))
    return any(said) if said else None


def _vmotion_vnics(host: Obj) -> list[str] | None:
    """VMkernel interfaces selected for vMotion; None when the inventory does not say."""
    info = host.get("config.virtualNicManagerInfo")
    if not isinstance(info, dict):
        return None
    for config in as_list(info.get("netConfig")):
        if isinstance(config, dict) and config.get("nicType") == "vmotion":
            return sorted(str(v).rsplit("-", 1)[-1] for v in as_list(config.get("selectedVnic")))
    return []


_HOST_BACKINGS = ("VirtualCdromAtapiBackingInfo", "VirtualCdromPassthroughBackingInfo",
                  "VirtualFloppyDeviceBackingInfo", "VirtualSerialPortDeviceBackingInfo",
                  "VirtualParallelPortDeviceBackingInfo")
_IMAGE_BACKINGS = ("VirtualCdromIsoBackingInfo", "VirtualFloppyImageBackingInfo")
_KINDS = {"VirtualCdrom": "cdrom", "VirtualFloppy": "floppy", "VirtualSerialPort": "serial",
          "VirtualParallelPort": "parallel", "VirtualDisk": "disk"}


def device_record(device: dict, inv: Inventory) -> dict | None:
    """One virtual device as the vMotion checks need it; None for devices they never look at."""
    dtype = device.get("_type") or ""
    backing = device.get("backing") if isinstance(device.get("backing"), dict) else {}
    btype = backing.get("_type") or ""
    label = (device.get("deviceInfo") or {}).get("label") or dtype
    connectable = device.get("connectable") if isinstance(device.get("connectable"), dict) else {}
    connected = any(str(connectable.get(k, "false")).lower() == "true" for k in ("connected", "startConnected"))
    if "sharedBus" in device:
        return {"kind": "scsi-controller", "label": label, "shared_bus": device.get("sharedBus")}
    if "macAddress" in device:
        network = backing.get("deviceName")
        port = backing.get("port") if isinstance(backing.get("port"), dict) else None
        if port and port.get("portgroupKey"):
            network = inv.name_of(f"DistributedVirtualPortgroup:{port['portgroupKey']}") or port["portgroupKey"]
        return {"kind": "nic", "label": label, "network": network, "connected": connected}
    kind = _KINDS.get(dtype)
    if kind is None:
        return None
    record = {"kind": kind, "label": label, "connected": connected}
    if kind == "disk":
        record["file"] = backing.get("fileName")
        record["datastore"] = _datastore_of(backing.get("fileName"))
        if "RawDiskMapping" in btype:
            record["rdm"] = {"lun_uuid": backing.get("lunUuid"), "device": backing.get("deviceName"),
                             "mode": backing.get("compatibilityMode")}
        return record
    if btype in _HOST_BACKINGS:
        record["backing"], record["device"] = "host-device", backing.get("deviceName")
    elif btype in _IMAGE_BACKINGS:
        record["backing"], record["file"] = "image", backing.get("fileName")
        record["datastore"] = _datastore_of(backing.get("fileName"))
    elif "Remote" in btype:
        record["backing"] = "client-device"
    else:
        record["backing"] = btype or "none"
    return record


def vm_record(inv: Inventory, vm: Obj) -> dict:
    host = inv.lookup(vm.get("runtime.host"))
    parent = inv.lookup(host.get("parent")) if host else None
    extra = _pairs(vm.get("config.extraConfig"))
    files = []
    for item in as_list(vm.get("layoutEx.file")):
        if isinstance(item, dict):
            files.append({"name": item.get("name"), "type": item.get("type"),
                          "datastore": _datastore_of(item.get("name"))})
    devices = [d for d in (device_record(dev, inv) for dev in as_list(vm.get("config.hardware.device"))
                           if isinstance(dev, dict)) if d]
    affinity = vm.get("config.cpuAffinity")
    mask = []
    for info in as_list(vm.get("config.cpuFeatureMask")):
        if isinstance(info, dict):
            info = info.get("info") if isinstance(info.get("info"), dict) else info
            mask.append({"level": _int(info.get("level"), 0) & 0xFFFFFFFF, "vendor": info.get("vendor") or "",
                         **{r: info.get(r) for r in ("eax", "ebx", "ecx", "edx") if info.get(r)}})
    return {
        "format": VM_FORMAT, "version": VERSION, "source": inv.source,
        "moid": vm.moid, "name": vm.get("name") or vm.moid,
        "host": host.get("name") if host else None,
        "cluster": parent.get("name") if parent is not None and parent.type == "ClusterComputeResource" else None,
        "power_state": vm.get("runtime.powerState"),
        "hardware_version": vm.get("config.version"),
        "min_required_evc_mode": vm.get("runtime.minRequiredEVCModeKey") or None,
        "feature_requirement": _pairs(vm.get("runtime.featureRequirement"), "featureName"),
        "feature_mask": _pairs(vm.get("runtime.featureMask"), "featureName"),
        "cpu_feature_mask": mask,
        "featmask_extra_config": {k: v for k, v in extra.items() if k.startswith(("featMask.", "featureCompat."))},
        "cpu_affinity": [_int(n) for n in as_list((affinity or {}).get("affinitySet") if isinstance(affinity, dict) else None)],
        "memory_mb": _int(vm.get("config.hardware.memoryMB")),
        "memory_reservation_mb": _int(vm.get("resourceConfig.memoryAllocation.reservation"), 0),
        "vmx_path": vm.get("config.files.vmPathName"),
        "datastores": sorted(n for n in (inv.name_of(r) for r in as_list(vm.get("datastore"))) if n),
        "files": files,
        "networks": sorted({n for n in (inv.name_of(r) for r in as_list(vm.get("network"))) if n}
                           | {d["network"] for d in devices if d["kind"] == "nic" and d.get("network")}),
        "devices": devices,
    }


def records(inv: Inventory) -> tuple[list[dict], list[dict]]:
    """(host records, VM records) of a whole inventory, each sorted by name."""
    hosts = [host_record(inv, h) for h in inv.of_type("HostSystem")]
    vms = [vm_record(inv, v) for v in inv.of_type("VirtualMachine")]
    return sorted(hosts, key=lambda r: r["name"]), sorted(vms, key=lambda r: r["name"])
