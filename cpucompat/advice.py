"""The next step after a verdict, a baseline or an EVC check, as an admin would take it.

- ``compare`` A -> B, incompatible: the BIOS setting on B that hides what the VM needs (a finding
  in B's fingerprint, ``data/remedies.csv``), the exact ``cpucompat mask A --target B`` command
  that levels the VM down to B, and the EVC mode / QEMU model both offer (a psABI level when
  neither is named). A VM keeps its CPU until it is powered off: a mask applies from then on.
- ``baseline`` and ``evc check``: the EVC mode, QEMU model and psABI level to configure the
  cluster with, and for the next one up the hosts to fix (BIOS setting, microcode update) or
  leave out to reach it: its weakest links, checked by recomputing the cluster without them.

Each step is a ``Step``: an action, one sentence, and where it applies a command, hosts, a
named baseline and features (canonical names); ``Step.json()`` is what the ``--json``
documents carry as ``next_steps``, and the views print them.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from .cluster import NAMED_KINDS, ClusterBaseline, Policy, cluster_baseline, judged_features, usable_features
from .compare import Source, Verdict
from .decode import Decoded
from .evc import EvcCheck, likely_causes, next_mode_up
from .knowledge import baselines
from .knowledge.remedies import microcode_updates, remedies

#: How a kind of named baseline is called in a sentence.
KIND_LABELS = {"evc": "EVC mode", "qemu": "QEMU model", "psabi": "psABI level"}
#: Clusters up to this size get the mask command naming every host (``--target`` per host).
MASK_ALL_HOSTS = 6
#: Features named in a sentence before "and N more".
NAMED_FEATURES = 6
#: What a mask command stands on where no input is the VM's CPU (a fleet, a named source):
#: the fingerprint of the VM's current host, or a dump taken inside the guest.
VM_INPUT = "VM.json"


@dataclass(frozen=True)
class Step:
    """One next step: ``action`` is bios, microcode, mask, evc, qemu, psabi, leave-out, cold-migrate, split or physical-host."""

    action: str
    text: str
    command: str | None = None
    hosts: tuple[str, ...] = ()
    baseline: str | None = None
    features: tuple[str, ...] = ()

    def json(self) -> dict:
        return {"action": self.action, "text": self.text, "command": self.command, "hosts": list(self.hosts),
                "baseline": self.baseline, "features": list(self.features)}


def feature_list(names: Sequence[str]) -> str:
    """``nx``, ``aes, pclmulqdq``, ``a, b, c, d, e, f and 3 more``."""
    names = sorted(names)
    shown = ", ".join(names[:NAMED_FEATURES])
    return shown + (f" and {len(names) - NAMED_FEATURES} more" if len(names) > NAMED_FEATURES else "")


def mask_command(vm: str, *, targets: Sequence[str] = (), evc: str | None = None, qemu_model: str | None = None,
                 fmt: str | None = None, options: Sequence[str] = ()) -> str | None:
    """The ``cpucompat mask`` command line, every argument quoted for a POSIX shell; None when an
    input is stdin (``-``), which a second command cannot read again."""
    if vm == "-" or "-" in targets:
        return None
    argv = ["cpucompat", "mask", vm, *(a for t in targets for a in ("--target", t))]
    argv += ["--evc", evc] if evc else ["--qemu-model", qemu_model] if qemu_model else []
    argv += (["--format", fmt] if fmt else []) + list(options)
    return shlex.join(argv)


def repairs(host: Decoded, missing: Sequence[str]) -> list[Step]:
    """The BIOS settings (findings in the host's fingerprint) and microcode updates that give
    ``missing`` back on one host."""
    steps, explained = [], set()
    for finding, hidden in likely_causes(list(missing), host.findings).items():
        remedy = remedies().get(finding)
        if remedy:
            alone = "it alone removes" if set(hidden) == set(missing) else "it removes"
            steps.append(Step("bios", f"{remedy.action} on {host.name}: {alone} {feature_list(hidden)}",
                              hosts=(host.name,), features=tuple(hidden)))
            explained |= set(hidden)
    for cause, lost in microcode_updates(set(missing) - explained, host.vendor).items():
        steps.append(Step("microcode", f"{remedies()[cause].action} on {host.name}: it lacks {feature_list(lost)}",
                          hosts=(host.name,), features=tuple(lost)))
    return steps


def compare_steps(source: Source, verdict: Verdict, target: Decoded, source_host: Decoded | None = None,
                  policy: Policy = Policy(), options: Sequence[str] = ()) -> list[Step]:
    """What makes an incompatible verdict work; nothing for a compatible one."""
    if verdict.compatible:
        return []
    if verdict.vendor_mismatch:
        old, new = verdict.vendor_mismatch
        return [Step("cold-migrate", f"no live migration from {old} to {new} CPUs: shut the VM down and "
                                     f"start it on {target.name}", hosts=(target.name,))]
    steps = repairs(target, verdict.missing)
    if source_host is None:
        return steps + _named_offer(baselines.get(source.name), target, policy)
    steps.append(Step("mask", f"level the VM down to what {target.name} offers (from the VM's next power-on; "
                              "--format picks the hypervisor's syntax)",
                      mask_command(source_host.path, targets=[target.path], options=options),
                      hosts=(target.name,), features=tuple(verdict.missing)))
    if not verdict.missing:  # lower limits only: a named baseline would not lower them
        return steps
    both = cluster_baseline([source_host, target], policy).named
    return steps + _both_offer(both, source_host, target, options)


def _both_offer(named: dict, vm: Decoded, target: Decoded, options: Sequence[str]) -> list[Step]:
    """Steps naming the EVC mode and QEMU model (else the psABI level) the VM's host and the target share."""
    evc, qemu, psabi = (_keeps_base(named.get(kind), vm) for kind in ("evc", "qemu", "psabi"))
    steps = []
    if evc:
        steps.append(Step("evc", f"or run it under EVC mode {evc.key}, which both offer (per VM, or the cluster's mode)",
                          mask_command(vm.path, evc=evc.key, fmt="vmx-evc"), baseline=evc.key))
    if qemu:
        steps.append(Step("qemu", f"or start it as QEMU model {qemu.key} (-cpu {qemu.key}), which both offer",
                          mask_command(vm.path, qemu_model=qemu.key, options=options), baseline=qemu.key))
    if psabi and not (evc or qemu):
        steps.append(Step("psabi", f"or level it to psABI level {psabi.key}, which both offer",
                          mask_command(vm.path, qemu_model=psabi.key, options=options), baseline=psabi.key))
    return steps


def _keeps_base(baseline: baselines.Baseline | None, vm: Decoded) -> baselines.Baseline | None:
    """The baseline, unless it lacks the base psABI level (x86-64) the VM has: a 32-bit model
    such as kvm32 is no answer for a 64-bit guest."""
    base = min(baselines.load_baselines("psabi"), key=lambda b: b.level)
    if baseline and baselines.satisfies(vm.features, base) and not base.required <= baseline.features:
        return None
    return baseline


def _named_offer(wanted: baselines.Baseline, target: Decoded, policy: Policy) -> list[Step]:
    """A named baseline the target lacks: the highest of that kind it offers instead."""
    offered = _highest(wanted.kind, [target], policy, wanted.vendor or target.vendor)
    if offered is None:
        return []
    label, named = KIND_LABELS[wanted.kind], {"evc": offered.key} if wanted.kind == "evc" else {"qemu_model": offered.key}
    return [Step(wanted.kind, f"{target.name} offers {label} {offered.key} at most: start the VM under "
                              f"{offered.key} instead of {wanted.key} ({VM_INPUT}: the fingerprint of its current "
                              "host, or a dump taken inside it)", mask_command(VM_INPUT, **named,
                              fmt="vmx-evc" if wanted.kind == "evc" else None),
                 hosts=(target.name,), baseline=offered.key)]


def _view(kind: str, hosts: Sequence[Decoded], policy: Policy) -> frozenset[str]:
    """What hosts offer together, as a kind of named baseline is judged: EVC modes on the ESXi
    view of the plain intersection, QEMU models and psABI levels on the usable features
    (``cluster.judged_features``, as ``cluster_baseline`` names them)."""
    common = frozenset.intersection(*(h.features for h in hosts))
    usable = common if kind == "evc" else usable_features(common, policy, frozenset.union(*(h.features for h in hosts)))
    return judged_features(kind, usable, common, policy)


def _highest(kind: str, hosts: Sequence[Decoded], policy: Policy, vendor: str | None) -> baselines.Baseline | None:
    return baselines.highest_satisfied(_view(kind, hosts, policy), vendor, kind)


def candidates(kind: str, current: baselines.Baseline | None, present: frozenset[str],
               vendor: str | None) -> list[baselines.Baseline]:
    """The named baselines above ``current`` worth reaching: the EVC mode one up
    (``evc.next_mode_up``); for QEMU models and psABI levels every one of a higher level."""
    if kind == "evc":
        upper = next_mode_up(current, vendor, present) if vendor else None
        return [upper] if upper else []
    floor = current.level if current else -1
    return [b for b in baselines.load_baselines(kind) if b.fits_vendor(vendor) and b.level > floor]


def configure_steps(named: dict, hosts: Sequence[Decoded], options: Sequence[str] = ()) -> list[Step]:
    """The named baselines to configure a cluster with, and the mask keeping all the hosts share."""
    first = hosts[0]
    steps = []
    if named.get("evc"):
        key = named["evc"].key
        steps.append(Step("evc", f"vSphere: set the cluster's EVC mode to {key} (or per VM, with this mask)",
                          mask_command(first.path, evc=key, fmt="vmx-evc"), baseline=key))
    if named.get("qemu"):
        key = named["qemu"].key
        steps.append(Step("qemu", f"KVM: start VMs as QEMU model {key} (-cpu {key}), which every host offers",
                          mask_command(first.path, qemu_model=key, options=options), baseline=key))
    if named.get("psabi"):
        key = named["psabi"].key
        alone = not steps  # no EVC mode or QEMU model (another vendor's hosts): the level is the mask
        steps.append(Step("psabi", f"guests built for {key} or lower run on every host" + (
            f"; level a VM started on {first.name} to it" if alone else ""),
            mask_command(first.path, qemu_model=key, options=options) if alone else None, baseline=key))
    if 1 < len(hosts) <= MASK_ALL_HOSTS and len({h.vendor for h in hosts}) == 1:  # no mask spans vendors
        steps.append(Step("mask", f"or keep every feature all hosts share, for a VM started on {first.name}",
                          mask_command(first.path, targets=[h.path for h in hosts[1:]], options=options)))
    return steps


def reach_next(kind: str, hosts: Sequence[Decoded], current: baselines.Baseline | None,
               policy: Policy = Policy()) -> list[Step]:
    """The hosts that keep the cluster below the next named baseline of ``kind``, and how to fix
    them: of the baselines above ``current`` that a minority of hosts keeps out of reach (the rest,
    recomputed without them, reach it), the one fewest hosts block, then the highest."""
    vendor = hosts[0].vendor if len({h.vendor for h in hosts}) == 1 else None
    if kind != "psabi" and vendor is None:
        return []
    views = {h.name: _view(kind, [h], policy) for h in hosts}
    reachable = []
    for wanted in candidates(kind, current, _view(kind, hosts, policy), vendor):
        weak = [h for h in hosts if not wanted.required <= views[h.name]]
        rest = [h for h in hosts if h not in weak]
        if weak and len(weak) * 2 <= len(hosts) and baselines.satisfies(_view(kind, rest, policy), wanted):
            reachable.append((len(weak), -wanted.level, wanted, weak))
    if not reachable:
        return []
    _count_, _level, wanted, weak = min(reachable, key=lambda r: r[:2])
    lacking = {h.name: baselines.missing_for(wanted, views[h.name]) for h in weak}
    missing = sorted({name for names in lacking.values() for name in names})
    they = "it lacks" if len(weak) == 1 else "they lack"
    steps = [Step("leave-out", f"to reach {KIND_LABELS[kind]} {wanted.key}, fix or leave out {_count(weak)} "
                               f"({they} {feature_list(missing)})", hosts=tuple(h.name for h in weak),
                  baseline=wanted.key, features=tuple(missing))]
    return steps + [step for h in weak for step in repairs(h, lacking[h.name])]


def _virtual(host: Decoded, mode: baselines.Baseline | None) -> list[Step]:
    """A dump taken inside a VM judges the virtual CPU its hypervisor shows, not a host."""
    hypervisor = host.fields.get("hypervisor")
    if mode is not None or not hypervisor:
        return []
    return [Step("physical-host", f"{host.name} is a virtual CPU ({hypervisor}): EVC judges physical hosts; "
                                  "fingerprint the host it runs on (cpucompat collect there)", hosts=(host.name,))]


def _count(hosts: Sequence[Decoded]) -> str:
    return "this host" if len(hosts) == 1 else f"these {len(hosts)} hosts"


def baseline_steps(result: ClusterBaseline, policy: Policy = Policy(), options: Sequence[str] = ()) -> list[Step]:
    """``baseline``: the named baselines to configure, then the weakest links to the next ones."""
    steps = configure_steps(result.named, result.hosts, options)
    for kind in NAMED_KINDS:
        steps += reach_next(kind, result.hosts, result.named.get(kind), policy)
    return steps


def evc_check_steps(check: EvcCheck, hosts: Sequence[Decoded], policy: Policy = Policy()) -> list[Step]:
    """``evc check``: the mode to configure, each host's BIOS or microcode fix for its next mode,
    and the hosts that keep the cluster below the next mode."""
    if check.cluster and check.cluster_reason:
        return [Step("split", f"{check.cluster_reason}: make one cluster per CPU vendor")]
    mode = check.cluster_mode if check.cluster else check.hosts[0].mode
    steps = []
    per_vm = mask_command(hosts[0].path, evc=mode.key, fmt="vmx-evc") if mode else None
    if mode and check.cluster:
        steps.append(Step("evc", f"vSphere: set the cluster's EVC mode to {mode.key} (or per VM, with this mask)",
                          per_vm, baseline=mode.key))
    elif mode:
        steps.append(Step("evc", f"{hosts[0].name} offers EVC modes up to {mode.key}: its cluster can run "
                                 f"at {mode.key} or lower (or per VM, with this mask)", per_vm,
                          hosts=(hosts[0].name,), baseline=mode.key))
    for host, result in zip(hosts, check.hosts):
        steps += repairs(host, result.missing) + _virtual(host, result.mode)
    if check.cluster:
        steps += [s for s in reach_next("evc", hosts, mode, policy) if s.action == "leave-out"]
    return steps
