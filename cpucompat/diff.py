"""What changed in one host's fingerprint, and what that change costs (``cpucompat diff``).

A BIOS, microcode, kernel or hypervisor update changes the CPU a host offers without any
hardware change: Intel's 2019-2021 microcode updates turned TSX off (``hle``, ``rtm``; TAA,
INTEL-SA-00270, and the TSX_CTRL / TSX_FORCE_ABORT MSRs), newer microcode and kernels drop
MPX, a BIOS reset turns NX or AES-NI off. ``diff`` compares two snapshots of one host:

- features gained and lost, the guest-visible view (what a VM may be given, ``cluster``'s
  policy) apart from host-only bits (HWP, EST ..., which no guest sees) and the rest
  (OS-dependent, non-migratable, KVM-emulated bits);
- scalars (leaves, address bits, XSAVE), BIOS findings, microcode, kernel, firmware;
- the impact: the named baselines (EVC modes judged as vCenter does, psABI levels and QEMU
  models as ``baseline`` names them) the host met before and no longer meets, and that a VM
  started before the change that may use a lost feature cannot move back onto the host live:
  it keeps the CPU it booted with.

Over a folder of dated fingerprints of one host, ``history`` diffs each snapshot with the one
before it (ordered by ``host.collected_at``, else by file name).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from .cluster import NAMED_KINDS, Policy, judged_features, usable_features
from .decode import Decoded, decode
from .dump import Dump
from .errors import InputError, UsageError
from .formats.reader import read_dump
from .knowledge import baselines
from .knowledge.features import feature_table
from .knowledge.remedies import loss_reasons
from .levels import fields_json

#: Fields reported on their own (not as scalars), or not a property of the CPU.
_NOT_SCALARS = ("microcode", "os_dependent", "inferred")


@dataclass
class Snapshot:
    """One fingerprint of the host, decoded."""

    path: str
    host: Decoded
    dump: Dump

    @property
    def when(self) -> str | None:
        value = self.dump.host.get("collected_at")
        return value if isinstance(value, str) else None

    @property
    def microcode(self) -> str | None:
        value = self.host.fields.get("microcode")
        if value:
            return str(value)
        codes = sorted({k.microcode for k in self.dump.kernel if k.microcode})
        return ", ".join(codes) or None

    @property
    def kernel(self) -> dict:
        kernel = self.dump.extra.get("kernel") or {}
        return {k: v for k, v in kernel.items() if k in ("version", "cmdline_feature_options")}

    @property
    def firmware(self) -> dict:
        return dict(self.dump.extra.get("firmware") or {})

    @property
    def findings(self) -> dict[str, str]:
        return {str(f.get("id")): str(f.get("status")) for f in self.host.findings if f.get("id")}


def load(path: str) -> Snapshot:
    dump = read_dump(path)
    return Snapshot(path, decode(dump), dump)


@dataclass
class Change:
    """Gained and lost features of one view."""

    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost)


@dataclass
class HostDiff:
    old: Snapshot
    new: Snapshot
    guest: Change
    host_only: Change
    other: Change
    scalars: dict[str, tuple[object, object]]
    findings: dict[str, tuple[str | None, str | None]]
    microcode: tuple[str | None, str | None] | None
    kernel: dict[str, tuple[object, object]]
    firmware: dict[str, tuple[object, object]]
    no_longer_meets: dict[str, list[str]]  # kind -> baseline keys met before, not after
    now_meets: dict[str, list[str]]
    highest: dict[str, tuple[str | None, str | None]]  # kind -> (old, new) highest named
    cannot_move_back: list[str]  # guest-visible features lost: VMs started before cannot return
    reasons: dict[str, str]  # lost feature -> the likely reason
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.guest or self.host_only or self.other or self.scalars or self.findings
                    or self.microcode or self.kernel or self.firmware)


def _split(old: frozenset[str], new: frozenset[str], policy: Policy) -> tuple[Change, Change, Change]:
    table = feature_table()
    host_only = table.host_only()
    guest_old, guest_new = usable_features(old, policy), usable_features(new, policy)
    guest = Change(sorted(guest_new - guest_old), sorted(guest_old - guest_new))
    rest_gained, rest_lost = (new - old) - set(guest.gained), (old - new) - set(guest.lost)
    only = Change(sorted(rest_gained & host_only), sorted(rest_lost & host_only))
    other = Change(sorted(rest_gained - host_only), sorted(rest_lost - host_only))
    return guest, only, other


def satisfied(host: Decoded, kind: str, policy: Policy = Policy()) -> list[baselines.Baseline]:
    """Every named baseline of ``kind`` the host meets, judged as ``baseline`` names them: EVC
    modes on the ESXi view of the raw features, psABI levels and QEMU models on the
    guest-visible ones (plus what KVM emulates)."""
    present = judged_features(kind, usable_features(host.features, policy), host.features, policy)
    return [b for b in baselines.load_baselines(kind) if b.fits_vendor(host.vendor) and baselines.satisfies(present, b)]


def _highest(found: list[baselines.Baseline]) -> str | None:
    best = max(found, key=lambda b: (b.level, b.vendor is not None), default=None)
    return best.key if best else None


def _changed_values(old: dict, new: dict, skip: Sequence[str] = ()) -> dict[str, tuple[object, object]]:
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if k not in skip and old.get(k) != new.get(k)}


def diff(old: Snapshot, new: Snapshot, policy: Policy = Policy()) -> HostDiff:
    """What changed from ``old`` to ``new`` (two snapshots of one host)."""
    warnings = []
    if old.host.vendor != new.host.vendor:
        warnings.append(f"the vendor changed ({old.host.vendor} -> {new.host.vendor}): "
                        "these are two different machines, not one host before and after an update")
    elif old.host.fields.get("signature") != new.host.fields.get("signature"):
        warnings.append("the CPU signature changed: a CPU replaced, or two different machines")
    if old.host.name != new.host.name:
        warnings.append(f"the host names differ ({old.host.name}, {new.host.name})")
    guest, host_only, other = _split(old.host.features, new.host.features, policy)
    old_fields = fields_json(old.host.fields)
    new_fields = fields_json(new.host.fields)
    before = {kind: satisfied(old.host, kind, policy) for kind in NAMED_KINDS}
    after = {kind: satisfied(new.host, kind, policy) for kind in NAMED_KINDS}
    levels = {b.key: (b.level, b.key) for kind in NAMED_KINDS for b in before[kind] + after[kind]}
    no_longer = {kind: sorted({b.key for b in before[kind]} - {b.key for b in after[kind]}, key=levels.get)
                 for kind in NAMED_KINDS}
    now = {kind: sorted({b.key for b in after[kind]} - {b.key for b in before[kind]}, key=levels.get)
           for kind in NAMED_KINDS}
    microcode = (old.microcode, new.microcode) if old.microcode != new.microcode else None
    findings = {k: (old.findings.get(k), new.findings.get(k))
                for k in sorted(set(old.findings) | set(new.findings)) if old.findings.get(k) != new.findings.get(k)}
    lost = set(guest.lost) | set(host_only.lost) | set(other.lost)
    return HostDiff(
        old, new, guest, host_only, other,
        scalars=_changed_values(old_fields, new_fields, _NOT_SCALARS),
        findings=findings, microcode=microcode,
        kernel=_changed_values(old.kernel, new.kernel),
        firmware=_changed_values(old.firmware, new.firmware),
        no_longer_meets=no_longer, now_meets=now,
        highest={kind: (_highest(before[kind]), _highest(after[kind])) for kind in NAMED_KINDS},
        cannot_move_back=list(guest.lost),
        reasons={name: loss_reasons()[name] for name in sorted(lost) if name in loss_reasons()},
        warnings=warnings,
    )


def diff_paths(old: str, new: str, policy: Policy = Policy()) -> HostDiff:
    return diff(load(old), load(new), policy)


def history_files(folder: str) -> list[str]:
    """The regular files of a folder (not recursive), hidden files left out."""
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: not a folder (give OLD NEW, or one folder of fingerprints of one host)")
    files = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                   if not n.startswith(".") and os.path.isfile(os.path.join(folder, n)))
    if len(files) < 2:
        raise InputError(folder, "a history needs at least two fingerprints of the host in this folder")
    return files


def history(folder: str, policy: Policy = Policy()) -> list[HostDiff]:
    """Each snapshot against the one before it, oldest first (by ``collected_at``, else by name;
    snapshots without a date sort before dated ones, by file name)."""
    snapshots = [load(path) for path in history_files(folder)]
    snapshots.sort(key=lambda s: (s.when is not None, s.when or "", os.path.basename(s.path)))
    return [diff(a, b, policy) for a, b in zip(snapshots, snapshots[1:])]
