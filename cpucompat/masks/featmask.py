"""VMware feature-name masks in the .vmx: ``featMask.vm.cpuid.<NAME> = "Val:<n>"``.

VMware's per-VM mask for hardware version 9 and later (the vSphere API reference for
``VirtualMachineCpuIdInfoSpec``: FeatureMask supersedes the CpuIdInfo bit strings of
``--format vmx`` as of API 5.1), and the form ESXi writes for per-VM EVC. ``<NAME>`` is a key of
vCenter's own feature vocabulary (featureCapability, featureRequirement, EVC featureMask:
``cpuid.<NAME>``, any case), mapped through the ``vmware`` column of features.csv and the
``vmware_keys`` of baselines/evc.json. It writes:

- ``Val:0`` for every hidden feature VMware names (``SSE41``, ``LAHF64``, ``AVX512F``);
- ``Val:0`` for every hidden XSAVE component VMware names (``XCR0_MASTER_OPMASK`` ...);
- the targets' value for a lowered max basic / extended leaf (``NUMLEVELS``, ``NUM_EXT_LEVELS``,
  which vCenter's EVC featureMasks carry as ``Val:0xd``).

No key is invented: a hidden feature VMware has no name for is listed in a comment saying that
featMask cannot hide it and what to do instead (hosts that have it; ``--format vmx`` for hardware
version 8 and older where the bit is outside CPUID subleaves), and so is a lowered address width.
"""

from __future__ import annotations

from ..knowledge.features import feature_table
from ..knowledge.vmware import feature_key_names, featmask_name, vmware_keys
from .bits import Unexpressed, commented, header, unexpressed_notes
from .vmx import expressible

WORDS = Unexpressed(
    what="featMask",
    features="",  # unnamed features are worded by _unnamed_notes
    lower="vCenter has no key for it: move the VM only to hosts with at least that many, or use --format vmx "
          "(hardware version 8 and older)",
    xsave="vCenter names no such component: move the VM only to hosts that have them",
)


def _listed(features) -> list[str]:
    return [f"  {f.name}  {f.where()}" for f in features]


def _unnamed_notes(unnamed) -> list[str]:
    """What featMask cannot say about hidden features VMware has no name for, and what to do."""
    base = set(vmware_keys()["always_exposed"])
    everywhere = [f for f in unnamed if f.name in base]
    rest = [f for f in unnamed if f.name not in base]
    notes = []
    if everywhere:
        notes.append("featMask cannot hide these: vCenter names no such feature, and every CPU ESXi runs on "
                     "has them (no ESXi host lacks them):")
        notes += _listed(everywhere)
    if rest:
        notes.append("featMask cannot hide these: vCenter's feature vocabulary (featureCapability, "
                     "featureRequirement, EVC featureMask keys) has no name for them on this CPU vendor:")
        notes += _listed(rest)
        legacy = [f.name for f in rest if expressible(f)]
        notes.append("instead: move the VM only to hosts that have them; check the VM's runtime.featureRequirement "
                     "(cpucompat vsphere collect): ESXi may not show them to a VM at all")
        notes.append("hardware version 8 and older: --format vmx hides " + (" ".join(legacy) if legacy else
                     "none of them (they live in CPUID subleaves)"))
    return notes


def _xsave_named(plan) -> dict[int, str]:
    """Hidden XSAVE components with a VMware key: component -> NAME."""
    found = {c: featmask_name("xsave", c) for c in range(64) if plan.xsave_hidden >> c & 1}
    return {c: name for c, name in found.items() if name}


def entries(plan) -> tuple[list[tuple[str, str]], list[str]]:
    """(NAME, value) of every featMask line, and the comment lines for what they cannot say."""
    table = feature_table()
    keys = {name: feature_key_names(name, plan.vm_vendor) for name in plan.hidden}  # on AMD, STIBP is amd_stibp
    named = sorted((key, table.by_name[name]) for name, names in keys.items() for key in names)
    unnamed = [table.by_name[name] for name, names in keys.items() if not names]
    xsave = _xsave_named(plan)
    lowered = {field: featmask_name("scalar", field) for field in plan.lower}
    lowerable = tuple(field for field, name in lowered.items() if name)
    left = plan.xsave_hidden & ~sum(1 << c for c in xsave)
    notes = [f"{key} means {f.name} ({f.where()}) on {plan.vm_vendor} CPUs in vCenter's vocabulary"
             for key, f in named if key != f.vmware]
    notes += _unnamed_notes(unnamed) + unexpressed_notes(plan, [], WORDS, lowerable=lowerable, xsave_left=left)
    lines = [(name, "0") for name, _ in named] + [(xsave[c], "0") for c in sorted(xsave)]
    lines += [(lowered[field], f"{plan.lower[field]:#x}") for field in lowerable]
    return lines, notes


def render(plan, options) -> str:
    lines, notes = entries(plan)
    text = header(plan) + commented(notes) + [f'featMask.vm.cpuid.{name} = "Val:{value}"' for name, value in lines]
    return "\n".join(text) + "\n"
