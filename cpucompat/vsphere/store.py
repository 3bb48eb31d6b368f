"""Where records come from and go: vCenter, a saved folder, or a folder of collected records.

``collect -o DIR`` writes ``DIR/hosts/NAME.json`` and ``DIR/vms/NAME.json`` into a temporary
folder beside DIR and renames it into place, so a failed run writes nothing; an existing DIR is
kept unless ``force``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..errors import InputError, UsageError
from ..formats.vsphere import VERSION
from . import records as rec

#: The fields the vMotion check reads from a record, and their JSON types (each may be absent or null).
_FIELDS = {
    rec.HOST_FORMAT: {"datastores": dict, "networks": list, "networks_without_uplinks": list, "scsi_luns": list,
                      "distributed_without_uplinks": dict, "vmotion_vnics": list, "feature_capability": dict,
                      "cpu_feature": list},
    rec.VM_FORMAT: {"devices": list, "datastores": list, "files": list, "cpu_affinity": list, "networks": list,
                    "feature_requirement": dict, "memory_mb": int, "memory_reservation_mb": int},
}
_JSON = {dict: "object", list: "array", int: "integer"}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "unnamed"


def write_records(hosts: list[dict], vms: list[dict], out: str, force: bool = False) -> Path:
    target = Path(out)
    if target.exists() and not force:
        raise UsageError(f"{out} exists: give --force to replace it")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    tmp = target.parent / f".{target.name}.cpucompat-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for kind, items in (("hosts", hosts), ("vms", vms)):
            folder = tmp / kind
            folder.mkdir(parents=True)
            used: set[str] = set()
            for item in items:
                name = _safe(item["name"])
                if name in used:
                    name = f"{name}-{_safe(item['moid'])}"
                used.add(name)
                (folder / f"{name}.json").write_text(json.dumps(item, indent=1) + "\n", encoding="utf-8")
        if target.exists():
            old = target.parent / f".{target.name}.cpucompat-old-{os.getpid()}"
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_records(folder: str) -> tuple[list[dict], list[dict]]:
    """Host and VM records from a ``collect -o`` folder (or any folder of record files)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(folder, "not a folder: expected the folder `cpucompat vsphere collect -o` wrote")
    hosts, vms = [], []
    for path in sorted(root.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(str(path), f"not a vSphere record: {error}") from None
        kind = doc.get("format") if isinstance(doc, dict) else None
        if kind not in _FIELDS:
            raise InputError(str(path), f"not a vSphere record (format {kind!r})")
        _check(doc, str(path))
        (hosts if kind == rec.HOST_FORMAT else vms).append(doc)
    if not hosts:
        raise InputError(folder, "no vSphere host records in this folder")
    return hosts, vms


def _check(doc: dict, path: str) -> None:
    """One error line for a record the vMotion check could not read (a hand-edited or truncated file)."""
    if doc.get("version") != VERSION:
        raise InputError(path, f"vSphere record version {doc.get('version')!r} is not supported (expected {VERSION})")
    for key in ("name", "moid"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise InputError(path, f"vSphere record without {key!r}: expected the file `vsphere collect -o` wrote")
    for key, kind in _FIELDS[doc["format"]].items():
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise InputError(path, f"vSphere record field {key!r} is not a JSON {_JSON[kind]}")
    host_datastores = doc.get("datastores") if doc["format"] == rec.HOST_FORMAT else None
    lists = {"devices": doc.get("devices"), "files": doc.get("files"), "datastores": (host_datastores or {}).values()}
    for key, items in lists.items():
        for item in items or []:
            if not isinstance(item, dict) or (key == "devices" and not isinstance(item.get("kind"), str)):
                raise InputError(path, f"vSphere record field {key!r}: expected JSON objects"
                                 + (" each with a \"kind\"" if key == "devices" else ""))
