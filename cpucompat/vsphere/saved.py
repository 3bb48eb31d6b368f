"""Reading a ``govc object.save`` folder: one ``ObjectContent`` XML file per managed object.

Each file holds ``<obj type="T">moid</obj>`` and ``<propSet><name/><val xsi:type=.../></propSet>``.
Values become plain data (see ``inventory``): an element with a ``type`` attribute and text is a
managed object reference (``"T:moid"``), one with children a dict (repeated children a list,
``ArrayOf...`` values a list), one with only text a string. Folders inside the save
(``govc`` writes some for newer objects) are not read.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as ET

from ..errors import InputError
from .inventory import Inventory, Obj

_XSI_TYPES = ("{http://www.w3.org/2001/XMLSchema-instance}type",)
MAX_FILE = 64 * 1024 * 1024


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xsi_type(element: Element) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == "type" and key != "type":
            return value.split(":", 1)[-1]
    return None


def plain(element: Element):
    """One XML value element as plain data."""
    children = list(element)
    xsi = _xsi_type(element)
    if not children:
        text = element.text or ""
        if "type" in element.attrib:  # a ManagedObjectReference
            return f"{element.attrib['type']}:{text.strip()}"
        if xsi and xsi.startswith("ArrayOf"):
            return []
        return text
    if xsi and xsi.startswith("ArrayOf"):
        return [plain(child) for child in children]
    result: dict = {"_type": xsi} if xsi else {}
    for child in children:
        name = _local(child.tag)
        value = plain(child)
        if name in result and name != "_type":
            if not isinstance(result[name], list) or not getattr(result[name], "_repeated", False):
                result[name] = _Repeated([result[name]])
            result[name].append(value)
        else:
            result[name] = value
    return {k: (list(v) if isinstance(v, _Repeated) else v) for k, v in result.items()}


class _Repeated(list):
    _repeated = True


def read_object(path: Path) -> Obj:
    """One ObjectContent file; an InputError naming the file when it is not one."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise InputError(str(path), f"file is {size / 1e6:.1f} MB, more than an ObjectContent file can be")
        root = ET.parse(path).getroot()
    except InputError:
        raise
    except OSError as error:
        raise InputError(str(path), f"cannot read: {error.strerror or error}") from None
    except Exception as error:  # ParseError, defusedxml's refusals
        raise InputError(str(path), f"not a govc object.save file: broken XML ({error})") from None
    obj = root.find("obj")
    if _local(root.tag) != "ObjectContent" or obj is None or not obj.attrib.get("type") or not (obj.text or "").strip():
        raise InputError(str(path), "not a govc object.save file: expected <ObjectContent> with <obj type=...>")
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
