"""The seed's vMotion check: can each VM move to each target host, and if not, what to change.

Every condition of the seed's vMotion chapter (../shared/docs/vsphere.md), each blocker with
the seed's remedy: the CPU (what the running VM requires, its featureRequirement, against the
target's CPU), datastores and RDM LUNs the target must reach, SCSI bus sharing, CD-ROM/floppy
host devices and images on storage the target cannot reach, physical serial/parallel ports, CPU
affinity, port groups present on the target by exact name, networks without uplinks, a vMotion
VMkernel interface on both hosts, and swap space on the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REMEDIES = {
    "cpu": "Enable EVC on the cluster (or per-VM EVC, or a per-VM CPUID mask) at a mode both hosts support, "
           "or power the VM off and migrate it cold.",
    "datastore": "Put the VM's files on a datastore both hosts mount (Storage vMotion first), or mount {what} "
                 "on the target.",
    "rdm": "Present the LUN to the target host too (zoning and LUN masking): an RDM must be visible to both hosts.",
    "scsi-bus-sharing": "Set SCSI Bus Sharing of {what} to None; VMs that share a SCSI bus (cluster nodes) "
                        "cannot be migrated with vMotion.",
    "media-image": "Disconnect {what} or move its image to storage the target reaches.",
    "host-device": "Disconnect {what} from the host's device (use a datastore ISO image or a client device).",
    "physical-port": "Disconnect or remove {what}: it is connected to a physical port of the host.",
    "cpu-affinity": "Remove the VM's CPU affinity (Edit Settings > CPU > Scheduling Affinity).",
    "port-group": "Create port group {what} on the target (same name, case included) or connect the adapter "
                  "to a port group the target has.",
    "no-uplink": "Give the virtual switch of {what} a physical uplink, or disconnect the adapter (vpxd.cfg "
                 "<migrate><test><CompatibleNetworks><VMOnVirtualIntranet>false turns this check off).",
    "no-dvs-uplink": "Add a physical NIC of each host to the uplinks of the distributed switch of {what} (Add and "
                     "Manage Hosts > Manage physical adapters), or disconnect the adapter (vpxd.cfg <migrate><test>"
                     "<CompatibleNetworks><VMOnVirtualIntranet>false turns this check off).",
    "vmotion-vmknic": "Enable the vMotion service on a VMkernel adapter of {what}.",
    "swap": "Free space on {what} or point the VM's swap file to a datastore with room for it.",
    "connection": "Reconnect {what} to vCenter.",
}


@dataclass
class Blocker:
    check: str
    what: str
    detail: str

    @property
    def remedy(self) -> str:
        return REMEDIES[self.check].format(what=self.what)


@dataclass
class Move:
    vm: str
    source: str | None
    target: str
    blockers: list[Blocker] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def can_move(self) -> bool:
        return not self.blockers


def _decoded(record: dict):
    from ..decode import decode
    from ..formats.vsphere import record_dump

    return decode(record_dump(record, record.get("name") or "record"))


def cpu_blockers(vm: dict, target: dict, cache: dict) -> list[Blocker]:
    """What the running VM requires that the target's CPU lacks (vCenter's own view: every bit)."""
    from ..cluster import Policy
    from ..compare import compare, source_from_host

    policy = Policy(all_bits=True)
    key_vm, key_host = ("vm", vm["moid"]), ("host", target["moid"])
    if key_vm not in cache:
        cache[key_vm] = source_from_host(_decoded(vm), policy)
    if key_host not in cache:
        cache[key_host] = _decoded(target)
    verdict = compare(cache[key_vm], cache[key_host], policy)
    if verdict.compatible:
        return []
    parts = []
    if verdict.missing:
        parts.append("target lacks " + ", ".join(verdict.missing))
    if verdict.vendor_mismatch:
        parts.append("vendor {} vs {}".format(*verdict.vendor_mismatch))
    missing_xsave = getattr(verdict, "missing_xsave", [])  # XSAVE components: newer compare.Verdict
    if missing_xsave:
        parts.append("XSAVE components " + ", ".join(missing_xsave))
    for name, (mine, theirs) in verdict.lower.items():
        parts.append(f"{name}: target {theirs} < VM {mine}")
    if target.get("max_evc_mode"):  # vCenter's own word on what the target can offer
        parts.append(f"the target offers EVC modes up to {target['max_evc_mode']} (per VM, powered off: "
                     f"cpucompat mask VM.json --evc {target['max_evc_mode']} --format vmx-evc, or vsphere apply-evc)")
    return [Blocker("cpu", target["name"], "; ".join(parts) or "CPU not compatible")]


def check_move(vm: dict, target: dict, hosts: dict[str, dict], cache: dict | None = None) -> Move:
    cache = {} if cache is None else cache
    move = Move(vm["name"], vm.get("host"), target["name"])
    source = hosts.get(vm.get("host") or "")
    add = move.blockers.append
    if target.get("connection_state") not in (None, "connected"):
        add(Blocker("connection", target["name"], f"target is {target['connection_state']}"))
    if vm.get("feature_requirement"):
        move.blockers.extend(cpu_blockers(vm, target, cache))
    elif vm.get("power_state") == "poweredOn":
        move.notes.append("vCenter reports no runtime.featureRequirement for this running VM: CPU not checked")
    else:
        move.notes.append("VM is powered off: no CPU requirement (a cold migration needs none)")
    reachable = {name for name, ds in (target.get("datastores") or {}).items() if ds.get("accessible", True)}
    needed = set(vm.get("datastores") or [])
    needed |= {f["datastore"] for f in vm.get("files") or [] if f.get("datastore") and f.get("type") not in ("swap", "uwswap")}
    needed |= {d["datastore"] for d in vm.get("devices") or [] if d["kind"] == "disk" and d.get("datastore")}
    for name in sorted(needed - reachable):
        add(Blocker("datastore", name, f"the VM's files are on {name}, which {target['name']} does not mount"))
    luns = set(target.get("scsi_luns") or [])
    for device in vm.get("devices") or []:
        kind, label = device["kind"], device.get("label") or device["kind"]
        if kind == "disk" and device.get("rdm"):
            uuid = device["rdm"].get("lun_uuid")
            if uuid and uuid not in luns:
                add(Blocker("rdm", label, f"{label} maps LUN {uuid}, which {target['name']} does not see"))
        elif kind == "scsi-controller" and device.get("shared_bus") not in (None, "", "noSharing"):
            add(Blocker("scsi-bus-sharing", label, f"{label} has SCSI bus sharing {device['shared_bus']}"))
        elif kind in ("cdrom", "floppy"):
            if device.get("backing") == "host-device" and device.get("connected"):
                add(Blocker("host-device", label, f"{label} is connected to the host device {device.get('device')}"))
            elif device.get("backing") == "image" and device.get("connected") and device.get("datastore") \
                    and device["datastore"] not in reachable:
                add(Blocker("media-image", label, f"{label} image {device.get('file')} is on {device['datastore']}, "
                                                  f"which {target['name']} does not mount"))
        elif kind in ("serial", "parallel") and device.get("backing") == "host-device" and device.get("connected"):
            add(Blocker("physical-port", label, f"{label} is connected to the host's {device.get('device')}"))
    if vm.get("cpu_affinity"):
        add(Blocker("cpu-affinity", vm["name"], "CPU affinity set to CPUs " + ",".join(map(str, vm["cpu_affinity"]))))
    target_networks = set(target.get("networks") or [])
    internal = set((source or {}).get("networks_without_uplinks") or []) | set(target.get("networks_without_uplinks") or [])
    nics = [d for d in vm.get("devices") or [] if d["kind"] == "nic"]
    # vCenter checks the networks of the currently connected adapters (a disconnected one only warns)
    used = sorted({d["network"] for d in nics if d.get("connected") and d.get("network")}) if nics \
        else vm.get("networks") or []
    for network in used:
        if network not in target_networks:
            add(Blocker("port-group", network, f"port group '{network}' does not exist on {target['name']}"))
        elif network in internal:
            add(_no_uplink(network, source, target))
    for host in (source, target):
        if host is None:
            continue
        if host.get("vmotion_vnics") == []:
            add(Blocker("vmotion-vmknic", host["name"], f"{host['name']} has no VMkernel interface enabled for vMotion"))
        elif host.get("vmotion_vnics") is None:
            move.notes.append(f"{host['name']}: the inventory does not say which VMkernel interface carries vMotion")
    _swap(vm, target, move)
    return move


def _swap(vm: dict, target: dict, move: Move) -> None:
    need_mb = (vm.get("memory_mb") or 0) - (vm.get("memory_reservation_mb") or 0)
    if need_mb <= 0:
        return
    from .records import _datastore_of

    where = target.get("local_swap_datastore") or _datastore_of(vm.get("vmx_path"))
    free = ((target.get("datastores") or {}).get(where) or {}).get("free") if where else None
    if free is None:
        move.notes.append("swap space on the target not checked (free space unknown)")
    elif free < need_mb * 1024 * 1024:
        move.blockers.append(Blocker("swap", where, f"the VM's {need_mb} MB swap file does not fit in "
                                                    f"{free // (1024 * 1024)} MB free on {where}"))


def _no_uplink(network: str, source: dict | None, target: dict) -> Blocker:
    """The blocker of a port group on a switch without physical uplinks: for a distributed port
    group, on which host its switch has none."""
    lacking = [(h["name"], h["distributed_without_uplinks"][network]) for h in (source, target)
               if h and network in (h.get("distributed_without_uplinks") or {})]
    if not lacking:
        return Blocker("no-uplink", network, f"{network} is on a virtual switch without physical uplinks")
    where = "; ".join(f"distributed switch {switch} has no physical uplink on {host}" for host, switch in lacking)
    return Blocker("no-dvs-uplink", network, f"{network}: {where}")


def check(vms: list[dict], targets: list[dict], hosts: list[dict]) -> list[Move]:
    """Every VM against every target host other than its own."""
    by_name = {h["name"]: h for h in hosts}
    cache: dict = {}
    return [check_move(vm, target, by_name, cache) for vm in vms for target in targets if target["name"] != vm.get("host")]


def select(records: list[dict], names: list[str] | None, what: str, cluster: str | None = None) -> list[dict]:
    """Records by exact name (all of them, or of one cluster, when no name is given)."""
    from ..errors import UsageError

    if names:
        by_name = {r["name"]: r for r in records}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise UsageError(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(sorted(by_name)) or 'none'})")
        return [by_name[n] for n in names]
    chosen = [r for r in records if cluster is None or r.get("cluster") == cluster]
    if not chosen:
        raise UsageError(f"no {what} " + (f"in cluster {cluster}" if cluster else "in this inventory"))
    return chosen
