"""Reading a ``govc object.save`` folder: one ``ObjectContent`` XML file per managed object.

Each file holds ``<obj type="T">moid</obj>`` and ``<propSet><name/><val xsi:type=.../></propSet>``.
Values become plain data (see ``inventory``): an element with a ``type`` attribute and text is a
managed object reference (``"T:moid"``), one with children a dict (repeated children a list,
``ArrayOf...`` values a list), one with only text a string. Folders inside the save
(``govc`` writes some for newer objects) are not read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

from ..errors import InputError
from .inventory import Inventory, Obj

MAX_FILE = 64 * 1024 * 1024
_TYPE = re.compile(r"[A-Z][A-Za-z0-9]{1,80}")
_MOID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}")


_LOCAL: dict[str, str] = {}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _local(tag: str) -> str:
    local = _LOCAL.get(tag)
    if local is None:
        local = _LOCAL[tag] = tag.rsplit("}", 1)[-1]
    return local


def parse_xml(data: bytes) -> Element:
    """ElementTree's C parser (pyVmomi's and defusedxml's Python-level handlers are several times
    slower on large inventories), refusing any DOCTYPE: neither vCenter's SOAP nor govc's files
    have one, and without it there are no entities to expand."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("a DOCTYPE or ENTITY declaration (never in vSphere XML)")
    return ElementTree.fromstring(data)


def plain(element: Element):
    """One XML value element as plain data."""
    xsi = element.get(XSI_TYPE)
    if xsi is not None:
        xsi = xsi.split(":", 1)[-1]
    if not len(element):
        text = element.text or ""
        if "type" in element.attrib:  # a ManagedObjectReference
            return f"{element.attrib['type']}:{text.strip()}"
        if xsi and xsi.startswith("ArrayOf"):
            return []
        return text
    if xsi and xsi.startswith("ArrayOf"):
        return [plain(child) for child in element]
    result: dict = {"_type": xsi} if xsi else {}
    repeated = set()
    for child in element:
        name = _local(child.tag)
        value = plain(child)
        if name in result:
            if name not in repeated:
                result[name] = [result[name]]
                repeated.add(name)
            result[name].append(value)
        else:
            result[name] = value
    return result


def read_object(path: Path) -> Obj:
    """One ObjectContent file; an InputError naming the file when it is not one."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise InputError(str(path), f"file is {size / 1e6:.1f} MB, more than an ObjectContent file can be")
        root = parse_xml(path.read_bytes())
    except InputError:
        raise
    except OSError as error:
        raise InputError(str(path), f"cannot read: {error.strerror or error}") from None
    except Exception as error:  # ParseError, defusedxml's refusals
        raise InputError(str(path), f"not a govc object.save file: broken XML ({error})") from None
    obj = root.find("obj")
    if _local(root.tag) != "ObjectContent" or obj is None or not obj.attrib.get("type") or not (obj.text or "").strip():
        raise InputError(str(path), "not a govc object.save file: expected <ObjectContent> with <obj type=...>")
    if not _TYPE.fullmatch(obj.attrib["type"]) or not _MOID.fullmatch(obj.text.strip()):
        raise InputError(str(path), f"unknown object {obj.attrib['type']!r}:{obj.text.strip()!r}: expected a vSphere "
                                    "managed object type and id (HostSystem host-14)")
    props = {}
    for prop in root.findall("propSet"):
        name, val = prop.find("name"), prop.find("val")
        if name is None or not (name.text or "").strip():
            raise InputError(str(path), "not a govc object.save file: a <propSet> without <name>")
        props[name.text.strip()] = plain(val) if val is not None else None
    return Obj(obj.attrib["type"], obj.text.strip(), props)


def read_save(folder: str | os.PathLike[str]) -> Inventory:
    """Every ``*.xml`` file of a ``govc object.save -d`` folder (its sub-folders are not read)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(str(root), "not a folder: expected a `govc object.save -d DIR` folder")
    files = sorted(p for p in root.iterdir() if p.suffix == ".xml" and p.is_file())
    if not files:
        raise InputError(str(root), "no ObjectContent .xml files: expected a `govc object.save -d DIR` folder")
    objects = [read_object(p) for p in files]
    if not any(o.type == "HostSystem" for o in objects):
        raise InputError(str(root), "no HostSystem object in this save: nothing to read")
    return Inventory(f"save {root}", objects)
