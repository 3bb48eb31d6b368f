"""Host fingerprints and VM records from a vSphere inventory, and those records read as Dumps.

A host record (``"format": "cpucompat-vsphere-host"``) keeps what vCenter says of one ESXi
host's CPU (``hardware.cpuFeature`` leaves, ``config.featureCapability``, ``summary.maxEVCModeKey``)
and what the vMotion checks need (cluster, datastores, networks and their uplinks, the vMotion
VMkernel interface, SCSI LUNs). A VM record (``"format": "cpucompat-vsphere-vm"``) keeps what the
running VM requires (``runtime.featureRequirement``), its masks, hardware version, power state,
devices, datastores, networks, CPU affinity and host.

Read as a ``Dump``: a host decodes from its leaves with every feature its featureCapability names
set or cleared (names through features.csv ``vmware_name``, any case); a VM decodes to a CPU
that has exactly what the VM requires (plus the features every x86-64 CPU has), so
``compare VM.json HOST...`` judges the VM's real needs, not its current host's CPU.
"""

from __future__ import annotations

import json
import re

from ..dump import CpuLeaves, Dump
from ..errors import InputError
from .inventory import Inventory, Obj, as_list

HOST_FORMAT = "cpucompat-vsphere-host"
VM_FORMAT = "cpucompat-vsphere-vm"
VERSION = 1
HOST_DUMP_FORMAT = "vsphere-host"
VM_DUMP_FORMAT = "vsphere-vm"

_SNIFF = re.compile(r'^\s*\{\s*"format"\s*:\s*"cpucompat-vsphere-(host|vm)"')


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
    return {
        "format": HOST_FORMAT, "version": VERSION, "source": inv.source,
        "moid": host.moid, "name": host.get("name") or host.moid,
        "cluster": cluster,
        "cluster_evc_mode": (cluster_summary or {}).get("currentEVCModeKey") if isinstance(cluster_summary, dict) else None,
        "connection_state": host.get("runtime.connectionState"),
        "cpu_model": hardware.get("cpuModel"),
        "system": {"vendor": hardware.get("vendor"), "model": hardware.get("model")},
        "bios": {"version": bios.get("biosVersion"), "release_date": bios.get("releaseDate"), "vendor": bios.get("vendor")},
        "esxi": {"name": product.get("fullName"), "version": product.get("version"), "build": product.get("build")},
        "max_evc_mode": host.get("summary.maxEVCModeKey") or None,
        "current_evc_mode": host.get("summary.currentEVCModeKey") or None,
        "cpu_feature": leaves,
        "feature_capability": _pairs(host.get("config.featureCapability"), "featureName"),
        "datastores": datastores,
        "networks": sorted(networks),
        "networks_without_uplinks": sorted(_networks_without_uplinks(host)),
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


# ----------------------------------------------------------------------------- reading records


def sniff(text: str) -> bool:
    return bool(_SNIFF.match(text[:4096].lstrip("\ufeff")))


def parse(text: str, path: str) -> Dump:
    """A host or VM record as a Dump (format ``vsphere-host`` / ``vsphere-vm``)."""
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError) as error:
        raise InputError(path, f"invalid JSON: {error}") from None
    return record_dump(doc, path)


def record_dump(doc: dict, path: str) -> Dump:
    if not isinstance(doc, dict) or doc.get("format") not in (HOST_FORMAT, VM_FORMAT):
        raise InputError(path, f"expected a vSphere record ({HOST_FORMAT} or {VM_FORMAT})")
    if doc.get("version") != VERSION:
        raise InputError(path, f"vSphere record version {doc.get('version')!r} is not supported (expected {VERSION})")
    try:
        return host_dump(doc, path) if doc["format"] == HOST_FORMAT else vm_dump(doc, path)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(path, f"vSphere record of the wrong shape: {error}") from None


def _register(text: str) -> int:
    """A HostCpuIdInfo register string (bit 31 first, ``:`` every four bits) as an int: only
    ``1`` is a set bit (masks use other characters for "keep", "host's value" ...)."""
    bits = str(text or "").replace(":", "")
    if len(bits) != 32:
        raise ValueError(f"a CPUID register must have 32 bit characters, got {text!r}")
    return sum(1 << (31 - i) for i, c in enumerate(bits) if c == "1")


def _set_feature(cpu: CpuLeaves, name: str, on: bool) -> None:
    from ..knowledge.features import feature_table

    feature = feature_table().by_name[name]
    key = (feature.leaf, feature.subleaf)
    regs = list(cpu.get(*key))
    index = ("eax", "ebx", "ecx", "edx").index(feature.reg)
    regs[index] = regs[index] | (1 << feature.bit) if on else regs[index] & ~(1 << feature.bit)
    cpu.leaves[key] = tuple(regs)


def _apply_keys(cpu: CpuLeaves, keys: dict[str, bool], vendor: str | None) -> tuple[list[str], list[str]]:
    """Set/clear the features and XSAVE components named by VMware keys; (applied, unknown)."""
    from ..evc import vmware_key

    applied, unknown = [], []
    for key, on in keys.items():
        kind, what = vmware_key(key, vendor)
        if kind == "feature":
            _set_feature(cpu, what, on)
            applied.append(what)
        elif kind == "xsave" and on:
            eax, ebx, ecx, edx = cpu.get(0xD, 0)
            cpu.leaves[(0xD, 0)] = (eax | 1 << int(what) | 1, ebx, ecx, edx)
        elif kind == "unknown":
            unknown.append(key)
    return applied, unknown


def _on(value: str) -> bool:
    """A featureCapability / featureRequirement value says present: ``1``, ``Bool:Min:1``, ``Val:0x2d``."""
    last = str(value).rsplit(":", 1)[-1].strip()
    try:
        return int(last, 0) != 0
    except ValueError:
        return last.lower() == "true"


def host_dump(doc: dict, path: str) -> Dump:
    cpu = CpuLeaves(index=0, label="vSphere hardware.cpuFeature")
    for leaf in doc.get("cpu_feature") or []:
        cpu.leaves[(int(leaf["level"]) & 0xFFFFFFFF, 0)] = tuple(_register(leaf[r]) for r in ("eax", "ebx", "ecx", "edx"))
    if not cpu.leaves:
        raise InputError(path, "vSphere host record without hardware.cpuFeature leaves")
    from ..cpuid_fields import vendor_string

    capability = {k: _on(v) for k, v in (doc.get("feature_capability") or {}).items() if k.lower().startswith("cpuid.")}
    applied, unknown = _apply_keys(cpu, capability, vendor_string(cpu))
    _cover(cpu)
    notes = [f"vSphere host: decoded from {len(doc['cpu_feature'])} hardware.cpuFeature leaves and "
             f"{len(capability)} config.featureCapability names"]
    if unknown:
        notes.append(f"vSphere featureCapability names not mapped to a CPUID bit: {', '.join(sorted(unknown))}")
    return Dump(path=path, format=HOST_DUMP_FORMAT, cpus=[cpu], notes=notes,
                host={"hostname": doc.get("name"), "vsphere": _summary(doc)},
                extra={"vsphere": doc})


def _cover(cpu: CpuLeaves) -> None:
    """Max basic/extended leaf high enough for every leaf that has a set bit."""
    basic = max((leaf for (leaf, _), regs in cpu.leaves.items() if leaf < 0x40000000 and any(regs)), default=0)
    ext = max((leaf for (leaf, _), regs in cpu.leaves.items() if leaf >= 0x80000000 and any(regs)), default=0)
    eax, ebx, ecx, edx = cpu.get(0)
    cpu.leaves[(0, 0)] = (max(eax, basic), ebx, ecx, edx)
    if ext:
        eax, ebx, ecx, edx = cpu.get(0x80000000)
        cpu.leaves[(0x80000000, 0)] = (max(eax, ext), ebx, ecx, edx)


_VENDOR_REGS = {"GenuineIntel": (0x756E6547, 0x6C65746E, 0x49656E69), "AuthenticAMD": (0x68747541, 0x444D4163, 0x69746E65)}


def vm_dump(doc: dict, path: str) -> Dump:
    """What the running VM requires, as a CPU that has exactly that."""
    from ..evc import vmware_key, vmware_keys

    requirement = doc.get("feature_requirement") or {}
    vendor = None
    for key, value in requirement.items():
        kind, what = vmware_key(key)
        if kind == "vendor" and _on(value):
            vendor = what
    mode = doc.get("min_required_evc_mode") or ""
    vendor = vendor or ("GenuineIntel" if mode.startswith("intel") else "AuthenticAMD" if mode.startswith("amd") else None)
    cpu = CpuLeaves(index=0, label="vSphere runtime.featureRequirement")
    if vendor:
        ebx, ecx, edx = _VENDOR_REGS[vendor]
        cpu.leaves[(0, 0)] = (1, ebx, ecx, edx)
    for name in vmware_keys()["always_exposed"]:
        _set_feature(cpu, name, True)
    wanted = {k: _on(v) for k, v in requirement.items() if k.lower().startswith("cpuid.") and _on(v)}
    applied, unknown = _apply_keys(cpu, wanted, vendor)
    _cover(cpu)
    notes = [f"vSphere VM: the {len(wanted)} features its runtime.featureRequirement names "
             f"(not its host's CPU), plus those every x86-64 CPU has"]
    if not requirement:
        notes.append("vSphere VM without runtime.featureRequirement (powered off?): only the x86-64 base is required")
    if unknown:
        notes.append(f"vSphere featureRequirement names not mapped to a CPUID bit: {', '.join(sorted(unknown))}")
    return Dump(path=path, format=VM_DUMP_FORMAT, cpus=[cpu], notes=notes,
                host={"hostname": doc.get("name"), "vsphere": _summary(doc)}, extra={"vsphere": doc})


def _summary(doc: dict) -> dict:
    keys = ("moid", "name", "cluster", "host", "cpu_model", "max_evc_mode", "min_required_evc_mode", "power_state",
            "hardware_version")
    return {k: doc[k] for k in keys if k in doc}
