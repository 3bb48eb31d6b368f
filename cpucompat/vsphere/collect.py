"""Reading vCenter: one PropertyCollector retrieval over a ContainerView, paged.

Every HostSystem, VirtualMachine, ClusterComputeResource, Datastore and network object comes
from one ``RetrievePropertiesEx`` (then ``ContinueRetrievePropertiesEx`` while a token is
returned) with a traversal spec from the view, never one round trip per property.
"""

from __future__ import annotations

import datetime

from .inventory import Inventory, Obj

#: The properties read per type: what the records need, nothing more.
PROPERTIES: dict[str, list[str]] = {
    "HostSystem": [
        "name", "parent", "hardware.cpuFeature", "hardware.systemInfo", "hardware.biosInfo",
        "config.featureCapability", "summary.maxEVCModeKey", "summary.currentEVCModeKey",
        "summary.hardware", "summary.config.product", "summary.config.vmotionEnabled",
        "runtime.connectionState", "datastore", "network", "config.network.vswitch",
        "config.network.portgroup", "config.network.proxySwitch", "config.virtualNicManagerInfo",
        "config.storageDevice.scsiLun", "config.localSwapDatastore",
    ],
    "VirtualMachine": [
        "name", "runtime.host", "runtime.powerState", "runtime.featureRequirement",
        "runtime.featureMask", "runtime.minRequiredEVCModeKey", "config.cpuFeatureMask",
        "config.version", "config.hardware.device", "config.hardware.memoryMB",
        "config.cpuAffinity", "config.extraConfig", "config.files.vmPathName", "datastore",
        "network", "layoutEx.file", "resourceConfig.memoryAllocation.reservation",
    ],
    "ClusterComputeResource": ["name", "summary"],
    "Datastore": ["name", "summary"],
    "Network": ["name"],
    "DistributedVirtualPortgroup": ["name", "config.uplink", "config.distributedVirtualSwitch"],
    "DistributedVirtualSwitch": ["name", "uuid", "config.host"],  # vCenter: its VmwareDistributedVirtualSwitch too
}

PAGE = 500


def plain(value):
    """A pyVmomi value as plain data (dicts with ``_type``, lists, ``"Type:moid"`` references)."""
    from pyVmomi.VmomiSupport import DataObject, ManagedObject

    if isinstance(value, ManagedObject):
        return f"{value._wsdlName}:{value._moId}"
    if isinstance(value, DataObject):
        out = {"_type": value._wsdlName}
        for prop in value._GetPropertyList():
            item = getattr(value, prop.name, None)
            if item is not None and not (isinstance(item, list) and not item):
                out[prop.name] = plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    if isinstance(value, type):
        return value.__name__
    return value


def retrieve(si, properties: dict[str, list[str]] = PROPERTIES, page: int = PAGE) -> Inventory:
    """The whole inventory below the root folder in one paged property retrieval.

    The requests are pyVmomi's own (``SerializeRequest``, on its session); the answers, which
    are ``ObjectContent`` XML exactly as ``govc object.save`` writes it, are parsed with
    ElementTree (``saved.plain``) rather than pyVmomi's pure-Python deserializer, which takes
    most of the time of a large retrieval. A vCenter that drops the connection or stops
    answering (the session's socket timeout) midway is a ``VSphereError``, not a traceback.
    """
    import http.client

    from .connect import VSphereError

    try:
        return _retrieve(si, properties, page)
    except (OSError, http.client.HTTPException) as error:  # reset, timed out, a cut-off answer
        raise VSphereError(f"vCenter stopped answering during the retrieval: {error or type(error).__name__}") from None


def _retrieve(si, properties: dict[str, list[str]], page: int) -> Inventory:
    from pyVmomi import vim, vmodl

    content = si.RetrieveContent()
    types = [_vim_type(t) for t in properties]
    view = content.viewManager.CreateContainerView(content.rootFolder, types, True)
    try:
        traversal = vmodl.query.PropertyCollector.TraversalSpec(
            name="view", path="view", skip=False, type=vim.view.ContainerView)
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=_vim_type(t), pathSet=paths)
                     for t, paths in properties.items()],
            reportMissingObjectsInResults=False)
        collector = content.propertyCollector
        options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=page)
        objects: list[Obj] = []
        token = _call(si, collector, "RetrievePropertiesEx", ([spec], options), objects)
        while token:
            token = _call(si, collector, "ContinueRetrievePropertiesEx", (token,), objects)
    finally:
        view.Destroy()
    return Inventory("vcenter", objects)


def _call(si, collector, method: str, args: tuple, objects: list[Obj]) -> str | None:
    """One PropertyCollector call; its objects appended, its continuation token returned."""
    import gzip
    import zlib

    from .connect import VSphereError
    from .saved import _local, parse_xml, plain

    stub = si._stub
    info = type(collector)._GetMethodInfo(method)
    body = stub.SerializeRequest(collector, info, args)
    headers = {"Cookie": stub.cookie, "SOAPAction": stub.versionId,
               "Content-Type": "text/xml; charset=UTF-8", "Accept-Encoding": "gzip, deflate"}
    conn = stub.GetConnection()
    try:
        conn.request("POST", stub.path, body, headers)
        response = conn.getresponse()
        data = response.read()
        encoding = (response.getheader("Content-Encoding") or "identity").lower()
    except Exception:
        conn.close()
        stub.DropConnections()
        raise
    stub.ReturnConnection(conn)
    if encoding == "gzip":
        data = gzip.decompress(data)
    elif encoding == "deflate":
        data = zlib.decompress(data)
    try:
        root = parse_xml(data)
    except Exception as error:
        raise VSphereError(f"vCenter answered {method} with something that is not XML ({error})") from None
    fault = next((e for e in root.iter() if _local(e.tag) == "faultstring"), None)
    if response.status != 200 or fault is not None:
        raise VSphereError(f"vCenter refused {method}: {fault.text if fault is not None else response.status}")
    token = None
    returnval = next((e for e in root.iter() if _local(e.tag) == "returnval"), None)
    for child in returnval if returnval is not None else ():
        name = _local(child.tag)
        if name == "token":
            token = child.text
        elif name == "objects":
            ref, props = None, {}
            for part in child:
                kind = _local(part.tag)
                if kind == "obj":
                    ref = (part.attrib.get("type"), (part.text or "").strip())
                elif kind == "propSet":
                    key = next((_local(e.tag) == "name" and e.text for e in part if _local(e.tag) == "name"), None)
                    val = next((e for e in part if _local(e.tag) == "val"), None)
                    if key:
                        props[key] = plain(val) if val is not None else None
            if ref and ref[0]:
                objects.append(Obj(ref[0], ref[1], props))
    return token


def _vim_type(wsdl: str):
    from pyVmomi import vim

    return vim.dvs.DistributedVirtualPortgroup if wsdl == "DistributedVirtualPortgroup" else getattr(vim, wsdl)
