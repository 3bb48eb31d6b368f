#!/usr/bin/env python3
"""Write data/libvirt-models.csv: the CPUID features of every x86 model in an installed libvirt's
cpu_map (default /usr/share/libvirt/cpu_map, libvirt 9.0 on Debian 12), ancestors resolved,
``removed='yes'`` features left out, in canonical names (data/features.csv's libvirt_name).

libvirt compares the vCPU QEMU built with its own map's view of the model (``check='full'``), and
that view differs from QEMU's (libvirt 9.0's Skylake-Server has mpx, QEMU 7.2's has not), so the
libvirt mask disables what either view has that the guest must not see.

Also ``--consumer-names``: print the libvirt-<version> rows of data/consumer-names.csv instead,
the x86 model names (cpu_map/index.xml) and feature names (cpu_map/x86_features.xml) of the
installed libvirt; tests/knowledge/test_consumer_names.py checks that this changes nothing.

Usage: scripts/gen_libvirt_models.py [CPU_MAP_DIR] > data/libvirt-models.csv
       scripts/gen_libvirt_models.py --consumer-names [CPU_MAP_DIR]   (rows to paste into
       data/consumer-names.csv)
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cpucompat.knowledge.features import feature_table


def models(folder: Path) -> dict[str, ET.Element]:
    index = (folder / "index.xml").read_text(encoding="utf-8")
    x86 = index[index.index("<arch name='x86'>"):]
    x86 = x86[:x86.index("</arch>")]
    found = {}
    for name in re.findall(r"filename='(x86_[^']+\.xml)'", x86):
        if name in ("x86_vendors.xml", "x86_features.xml"):
            continue
        for model in ET.parse(folder / name).getroot().iter("model"):
            if model.get("name") and model.find("decode") is not None or model.find("feature") is not None:
                found[model.get("name")] = model
    return found


def features(name: str, table: dict[str, ET.Element]) -> set[str]:
    model = table[name]
    own = {f.get("name") for f in model.findall("feature") if f.get("removed") != "yes"}
    ancestor = model.find("model")
    if ancestor is not None:
        base = features(ancestor.get("name"), table)
        base -= {f.get("name") for f in table[ancestor.get("name")].findall("feature")
                 if f.get("removed") == "yes"}
        own |= base
    return own


def libvirt_version() -> str:
    """The installed libvirt's version (``virsh --version``), '' when virsh is missing."""
    try:
        return subprocess.run(["virsh", "--version"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        return ""


def consumer_names(folder: Path, version: str) -> list[str]:
    """data/consumer-names.csv rows for this libvirt: ``libvirt-9.0,model,NAME`` then the features."""
    consumer = "libvirt-" + ".".join(version.split(".")[:2])
    names = set(re.findall(r"<feature name='([^']+)'", (folder / "x86_features.xml").read_text(encoding="utf-8")))
    return ([f"{consumer},model,{name}" for name in sorted(models(folder))]
            + [f"{consumer},feature,{name}" for name in sorted(names)])


def main() -> None:
    args = sys.argv[1:]
    only_names = "--consumer-names" in args
    args = [a for a in args if a != "--consumer-names"]
    folder = Path(args[0] if args else "/usr/share/libvirt/cpu_map")
    version = libvirt_version()
    if only_names:
        print("\n".join(consumer_names(folder, version)))
        return
    canonical = {f.libvirt: f.name for f in feature_table().features if f.libvirt}
    table = models(folder)
    print("# libvirt cpu_map x86 models and their CPUID features (canonical names), as libvirt "
          f"{version or '?'} expands them: scripts/gen_libvirt_models.py {folder}")
    print("# MSR features (vmx-*, arch-capabilities bits) are left out.")
    print("model,feature")
    for name in sorted(table):
        for feature in sorted(canonical[f] for f in features(name, table) if f in canonical):
            print(f"{name},{feature}")


if __name__ == "__main__":
    main()
