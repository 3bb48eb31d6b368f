"""Proxmox VE custom CPU model: an entry for ``/etc/pve/virtual-guest/cpu-models.conf``.

Section-config syntax (proxmox/pve-docs ``cpu-models.conf.adoc``): a header line
``cpu-model: <name>``, then ``key value`` options indented by four spaces; VMs use it as
``cpu: custom-<name>``. Options (proxmox/qemu-server ``src/PVE/QemuServer/CPUConfig.pm``,
``$cpu_fmt``):

- ``reported-model``: the QEMU model QEMU starts from: the guest sees that model's features
  minus the flags. It is the closest model Proxmox accepts (the ``$cpu_vendor_list`` enum;
  ``bits.choose_model``: all its features on the targets, the most of the VM's kept features);
- ``flags -a;-b``: QEMU flag names (the ``qemu`` column of features.csv): every hidden feature,
  and every feature of the model the VM does not have, so the guest sees only what it keeps;
- ``phys-bits``: the targets' physical address width, when lowered.

``CPUConfig.pm`` (qemu-server 0538c83, the newest read) has no option for the max basic or
extended leaf (QEMU's ``level``/``xlevel``): a lowered leaf limit is left in a comment, like
hidden features QEMU has no flag for. QEMU builds leaf 0xD from the features it offers, so
XSAVE components follow their features.
"""

from __future__ import annotations

import hashlib
import re

from ..errors import UsageError
from .consumers import known_names
from .bits import Unexpressed, commented, header, modelled_mask

#: Models Proxmox accepts as ``reported-model``: the keys of ``$cpu_vendor_list`` in
#: proxmox/qemu-server src/PVE/QemuServer/CPUConfig.pm (0538c83).
PROXMOX_MODELS = known_names("proxmox", "reported-model")
#: A section id Proxmox accepts (pve_verify_configid) and that reads as a model name.
NAME_RE = re.compile(r"[a-z][a-z0-9_-]+", re.IGNORECASE)
INDENT = "    "
WORDS = Unexpressed(
    what="cpu-models.conf",
    features=("QEMU has no flag for these hidden features; a named reported-model does not offer them "
              "(QEMU sets only the bits it names):"),
    lower="QEMU's level=/xlevel= could, but Proxmox has no option for them",
    xsave="QEMU offers a component only with its feature, and no hidden feature owns these",
    model="reported-model",
    disabled="disabled by the flags",
    no_model="no QEMU model Proxmox accepts fits this VM; set reported-model yourself",
    beyond_targets="; QEMU's enforce only checks what the flags leave enabled",
)


def proxmox_spelling(baseline) -> str | None:
    """The baseline's model under a name Proxmox accepts as ``reported-model``, if any."""
    for name in (baseline.libvirt_name, baseline.qemu_name, *baseline.libvirt_aliases, baseline.key):
        if name in PROXMOX_MODELS:
            return name
    return None


def model_name(plan, options) -> str:
    """``--name``, or a name derived from the VM and what it must run on."""
    if options.name:
        if not NAME_RE.fullmatch(options.name):
            raise UsageError(f"--name {options.name!r}: a Proxmox CPU model name is a letter "
                             "followed by one or more letters, digits, '-' or '_'")
        return options.name
    slug = re.sub(r"[^a-z0-9]+", "-", plan.vm_name.lower()).strip("-")[:24].strip("-")
    digest = hashlib.sha256("\n".join([plan.vm_name, plan.target_label, *plan.hidden,
                                       *map(str, plan.lower.items())]).encode()).hexdigest()[:8]
    return f"cpucompat-{slug}-{digest}" if slug else f"cpucompat-{digest}"


def render(plan, options) -> str:
    choice, flags, notes = modelled_mask(plan, "qemu", proxmox_spelling, WORDS, lowerable=("phys_addr_bits",))
    name = model_name(plan, options)
    lines = header(plan) + commented(notes)
    lines.append(f"# use it as  cpu: custom-{name}  (the same entry must be on every node)")
    lines.append(f"cpu-model: {name}")
    if flags:
        lines.append(f"{INDENT}flags {';'.join('-' + flag for flag in sorted(flags))}")
    if "phys_addr_bits" in plan.lower:
        lines.append(f"{INDENT}phys-bits {plan.lower['phys_addr_bits']}")
    if choice is not None:
        lines.append(f"{INDENT}reported-model {choice.name}")
    return "\n".join(lines) + "\n"
