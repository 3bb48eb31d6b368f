"""KubeVirt: the ``spec.domain.cpu`` fragment, and the node labels every target must carry.

Two YAML documents (kubevirt/user-guide ``docs/compute/virtual_hardware.md``):

1. ``cpu:`` for ``spec.domain`` of a VirtualMachineInstance (``spec.template.spec.domain`` of a
   VirtualMachine). ``model`` is the closest libvirt CPU model (``bits.choose_model``: all its
   features on the targets, the most of the VM's kept features; not one of KubeVirt's default
   obsolete models); ``features`` disables by libvirt name (``policy: disable``) each hidden
   feature and each feature of the model the VM does not have, so the guest sees the model's
   features the VM keeps.
2. ``nodeSelector:`` with ``cpu-model.node.kubevirt.io/<model>: "true"``, the label KubeVirt's
   node-labeller puts on nodes that can run the model (KubeVirt adds it to the VM pod itself;
   it is written out so the targets can be checked), and ``cpucompat.io/qemu.<Model-vN>: "true"``,
   the label ``cpucompat collect --nfd`` gives every node that satisfies that QEMU model
   (``collect/nfd.py``). No feature has policy ``require``, so no
   ``cpu-feature.node.kubevirt.io/<f>`` label is needed.

Hidden features libvirt has no name for, lowered limits and XSAVE components left over are
listed in comments: a named model offers only features libvirt names, with the model's own
leaf limits.
"""

from __future__ import annotations

import yaml

from ..collect.nfd import model_label
from .consumers import known_names
from .bits import Unexpressed, commented, header, modelled_mask
from .libvirt import MODELS as LIBVIRT_MODELS

#: KubeVirt's default ``obsoleteCPUModels``: the node-labeller never marks them usable.
OBSOLETE_MODELS = known_names("kubevirt", "obsolete-model")
WORDS = Unexpressed(
    what="KubeVirt",
    features=("libvirt has no name for these hidden features; the named model does not offer them "
              "(host-passthrough would):"),
    lower="spec.domain.cpu has no field for it (the named model brings its own)",
    xsave="QEMU offers a component only with its feature, and no hidden feature owns these",
    no_model="no libvirt CPU model that KubeVirt does not deem obsolete fits this VM; set cpu.model yourself",
    beyond_targets=": the node-labeller will not mark such nodes as able to run it",
)


def _libvirt_spelling(baseline) -> str | None:
    """The model's libvirt name: in libvirt's cpu_map since the libvirt format's floor version,
    and not obsolete for KubeVirt."""
    name = baseline.libvirt_name
    return name if name in LIBVIRT_MODELS and name not in OBSOLETE_MODELS else None


def _yaml(document: dict) -> list[str]:
    """One YAML document's lines, written by PyYAML (strings such as ``486`` or ``true`` come out
    quoted, so they stay strings)."""
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False, width=1 << 16).splitlines()


def render(plan, options) -> str:
    choice, disabled, notes = modelled_mask(plan, "libvirt", _libvirt_spelling, WORDS)
    lines = header(plan) + commented(notes)
    cpu = {"model": choice.name} if choice is not None else {}
    cpu["features"] = [{"name": name, "policy": "disable"} for name in sorted(disabled)]
    selector = {}
    if choice is not None:
        selector = {f"cpu-model.node.kubevirt.io/{choice.name}": "true", model_label(choice.baseline.key): "true"}
    lines += ["---", "# spec.domain.cpu (VirtualMachine: spec.template.spec.domain.cpu)"]
    lines += _yaml({"cpu": cpu})
    lines += ["---", "# labels every target node must carry (set by KubeVirt's node-labeller, and by "
                     "cpucompat collect --nfd through Node Feature Discovery)"]
    lines += _yaml({"nodeSelector": selector})
    return "\n".join(lines) + "\n"
