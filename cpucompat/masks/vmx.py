"""VMware's legacy per-VM CPUID masks in the .vmx: ``cpuid.<leaf>.<reg> = "----:...:----"``.

The vSphere API reference (``VirtualMachineCpuIdInfoSpec``) says that as of API 5.1 FeatureMask
(``featMask.vm.cpuid.<NAME>``, ``--format featmask``) is the method for hardware version 9 and
later, and these CpuIdInfo bit strings (VMware KB 1993) only for hardware version 8 and older.

Each value has 32 characters, bit 31 first. ``0`` and ``1`` override the bit, ``-`` leaves
VMware's default alone ("Ones and zeroes override the default settings, bit by bit"; it is not
an AND mask). Leaves are hex without ``0x``. Only syntax with evidence is written: plain leaves
in groups of four separated by ``:`` (the KB 1993 form), and leaf 7 as ``cpuid.7.<reg>`` with
no subleaf and no colons, the one real-world leaf-7 line found anywhere being
``cpuid.7.ebx = "-------------0------------------"``. No evidence was found that ESXi reads a
subleaf key (``cpuid.7.0.ebx``, ``cpuid.7.1.eax``, ``cpuid.d.1.eax``), so features in other
subleaves (7.1, 0xD.1 ...) and XSAVE components cannot be hidden in this form: the output says
so in a comment and points to featmask where VMware names them. VMware looks up ``<key>.amd``
first on AMD hosts, so for an AMD (or Hygon) VM every line is written in both forms.

What it writes: every expressible hidden feature's bit as ``0``; a lowered max basic or extended
leaf as the exact value of leaf 0 / 0x80000000 EAX; lowered physical address bits as
0x80000008 EAX[7:0].
"""

from __future__ import annotations

from ..cpuid_fields import vendor_families, xsave_component_names
from ..knowledge.features import feature_table
from ..knowledge.vmware import feature_key_name, featmask_name
from .bits import commented, forced_bits, has_subleaf, header

KEEP = "-"

#: Subleaf leaves with evidence of a legacy key: leaf 7 subleaf 0, written without the subleaf.
EVIDENCED_SUBLEAVES = frozenset({(0x7, 0)})


def key(leaf: int, subleaf: int, register: str) -> str | None:
    """The legacy key of a register, or None where no key form has evidence."""
    if has_subleaf(leaf) and (leaf, subleaf) not in EVIDENCED_SUBLEAVES:
        return None
    return f"cpuid.{leaf:x}.{register}"


def expressible(feature) -> bool:
    """Whether this form can hide a feature: its bit is outside subleaves without an evidenced key."""
    return key(feature.leaf, feature.subleaf, feature.reg) is not None


def unexpressed_features(plan) -> frozenset[str]:
    """Hidden features this form cannot hide: those in subleaves without an evidenced key."""
    table = feature_table()
    return frozenset(name for name in plan.hidden if not expressible(table.by_name[name]))


def _notes(plan) -> list[str]:
    """What this form cannot hide, and where featMask (hardware version 9 and later) can."""
    unexpressed = sorted(unexpressed_features(plan))
    named = [n for n in unexpressed if feature_key_name(n, plan.vm_vendor)]
    unnamed = [n for n in unexpressed if not feature_key_name(n, plan.vm_vendor)]
    why = "cannot be hidden in the legacy cpuid.<leaf>.<reg> form (no evidence that ESXi reads a subleaf key): "
    notes = []
    if named:
        notes.append(why + " ".join(named) + "; use --format featmask (hardware version 9 and later)")
    if unnamed:
        notes.append(why + " ".join(unnamed) + "; featMask has no VMware name for them either: move the VM only "
                     "to hosts that have them")
    if plan.xsave_hidden:
        components = [c for c in range(64) if plan.xsave_hidden >> c & 1]
        featmask = [featmask_name("xsave", c) for c in components if featmask_name("xsave", c)]
        notes.append("XSAVE state components " + ", ".join(xsave_component_names(plan.xsave_hidden))
                     + " cannot be hidden in this form either (leaf 0xD has subleaves); "
                     + (f"--format featmask hides {' '.join(featmask)}" if featmask else "featMask names none of them"))
    return notes


def render(plan, options) -> str:
    amd = vendor_families().get(plan.vm_vendor) == "amd"
    lines = header(plan) + commented(_notes(plan))
    if amd:
        lines.append("# AMD CPU: VMware reads the .amd form of a key first, so both forms are given")
    for (leaf, subleaf, register), forced in forced_bits(plan).items():
        name = key(leaf, subleaf, register)
        if name is None:
            continue
        value = forced.string(KEEP, "" if has_subleaf(leaf) else ":")
        lines.append(f'{name} = "{value}"')
        if amd:
            lines.append(f'{name}.amd = "{value}"')
    return "\n".join(lines) + "\n"
