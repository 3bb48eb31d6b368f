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
from . import records as rec


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
        if kind == rec.HOST_FORMAT:
            hosts.append(doc)
        elif kind == rec.VM_FORMAT:
            vms.append(doc)
        else:
            raise InputError(str(path), f"not a vSphere record (format {kind!r})")
    if not hosts:
        raise InputError(folder, "no vSphere host records in this folder")
    return hosts, vms
