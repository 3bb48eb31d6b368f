"""``cpucompat diff``: the JSON document and its text layout."""

from __future__ import annotations


from ..diff import Change, HostDiff
from ..knowledge.features import feature_table
from ..text import printable
from .text import wrap

KIND_LABELS = {"evc": "EVC modes", "psabi": "psABI levels", "qemu": "QEMU models"}


def _names(names: list[str], vocabulary: str) -> list[str]:
    return feature_table().names(names, vocabulary) if vocabulary != "canonical" else list(names)


def _change(change: Change, vocabulary: str) -> dict:
    return {"gained": _names(change.gained, vocabulary), "lost": _names(change.lost, vocabulary)}


def _pairs(values: dict) -> dict:
    return {k: {"old": old, "new": new} for k, (old, new) in values.items()}


def diff_json(result: HostDiff, vocabulary: str = "canonical") -> dict:
    """One host's change, as ``diff --json`` prints it."""
    lost = _names(result.cannot_move_back, vocabulary)
    return {
        "host": result.new.host.name,
        "old": {"input": result.old.path, "collected_at": result.old.when},
        "new": {"input": result.new.path, "collected_at": result.new.when},
        "changed": result.changed,
        "names": vocabulary,
        "features": _change(result.guest, vocabulary),
        "host_only": _change(result.host_only, vocabulary),
        "other_bits": _change(result.other, vocabulary),
        "scalars": _pairs(result.scalars),
        "findings": _pairs(result.findings),
        "microcode": None if result.microcode is None else dict(zip(("old", "new"), result.microcode)),
        "kernel": _pairs(result.kernel),
        "firmware": _pairs(result.firmware),
        "impact": {
            "no_longer_meets": result.no_longer_meets,
            "now_meets": result.now_meets,
            "highest": {k: {"old": old, "new": new} for k, (old, new) in result.highest.items()},
            "cannot_move_back": lost,
            "reasons": {feature_table().names([k], vocabulary)[0] if vocabulary != "canonical" else k: v
                        for k, v in result.reasons.items()},
        },
        "warnings": result.warnings,
    }


def history_json(results: list[HostDiff], vocabulary: str = "canonical") -> dict:
    return {"host": results[-1].new.host.name if results else None,
            "changed": any(r.changed for r in results),
            "steps": [diff_json(r, vocabulary) for r in results]}


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(v.get("name", str(v)) if isinstance(v, dict) else str(v) for v in value) or "-"
    return printable(str(value))


def _print_change(label: str, change: dict) -> None:
    for verb in ("lost", "gained"):
        if change[verb]:
            print(f"  {label} {verb} ({len(change[verb])}):")
            print(wrap([printable(w) for w in change[verb]], "    "))


def print_diff(document: dict) -> None:
    old, new = document["old"], document["new"]
    when = lambda side: f" ({side['collected_at']})" if side["collected_at"] else ""  # noqa: E731
    print(f"{printable(document['host'])}: {printable(old['input'])}{when(old)} -> "
          f"{printable(new['input'])}{when(new)}")
    if not document["changed"]:
        print("  no change")
        return
    impact = document["impact"]
    lost = impact["cannot_move_back"]
    if lost:
        print(f"  guest-visible features lost: {', '.join(lost)}")
    _print_change("guest-visible features", {"lost": [], "gained": document["features"]["gained"]})
    _print_change("host-only bits", document["host_only"])
    _print_change("other bits (OS-dependent, non-migratable, emulated)", document["other_bits"])
    if document["microcode"]:
        print(f"  microcode: {_value(document['microcode']['old'])} -> {_value(document['microcode']['new'])}")
    for section in ("scalars", "kernel", "firmware"):
        for name, pair in document[section].items():
            print(f"  {section[:-1] if section == 'scalars' else section} {name}: "
                  f"{_value(pair['old'])} -> {_value(pair['new'])}")
    for finding, pair in document["findings"].items():
        print(f"  BIOS finding {finding}: {_value(pair['old'])} -> {_value(pair['new'])}")
    for kind, keys in impact["no_longer_meets"].items():
        highest = impact["highest"][kind]
        label = KIND_LABELS[kind][:-1]
        if highest["old"] == highest["new"]:
            print(f"  highest {label}: {highest['new'] or 'none'} (kept)")
        else:
            print(f"  highest {label}: {highest['old'] or 'none'} -> {highest['new'] or 'none'}")
        if keys:
            print(f"    no longer meets {len(keys)} {KIND_LABELS[kind]}:")
            print(wrap([printable(k) for k in keys], "      "))
    for kind, keys in impact["now_meets"].items():
        if keys:
            print(f"  now meets {len(keys)} more {KIND_LABELS[kind]}: {', '.join(keys)}")
    for name, reason in impact["reasons"].items():
        print(f"  likely cause, {name}: {reason}")
    if lost:
        print(f"  VMs started on this host before the change that use {', '.join(lost)} cannot move back "
              "to it live; power-cycle them here, or mask those features (cpucompat mask) before they start")


def print_history(document: dict) -> None:
    for step in document["steps"]:
        print_diff(step)
