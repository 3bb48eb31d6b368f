"""``cpucompat diff``: the JSON document and its text layout (summary first: what changed, then the
features grouped as people read them, the scalars in hex, and the impact)."""

from __future__ import annotations

from ..diff import Change, HostDiff
from ..knowledge.features import feature_table
from .console import SUMMARY_FAMILIES, by_family, counted, feature_groups, feature_name, say, verdict, words
from .lines import canonical, folded_table, say_whole, say_wrapped, section
from .text import scalar_text

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


def _value(value: object, name: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value) or "-"
    return scalar_text(name, value) if name else str(value)


def features_phrase(names: list[str], verb: str, vocabulary: str) -> str:
    """``2 features lost (TSX: hle rtm)``: counted, then the names by family
    (``data/feature-families.csv``), the first ``SUMMARY_FAMILIES`` families named."""
    families = by_family(canonical(names, vocabulary))
    shown = [f"{label}: {' '.join(feature_name(n, vocabulary) for n in members)}"
             for label, members in list(families.items())[:SUMMARY_FAMILIES]]
    more = "; ..." if len(families) > SUMMARY_FAMILIES else ""
    return f"{counted(len(names), 'feature')} {verb} ({'; '.join(shown)}{more})"


def summary(document: dict) -> str:
    """``changed: 2 features lost (TSX: hle rtm), microcode 0x5000021 -> 0x500002c``."""
    parts = [features_phrase(document["features"][verb], verb, document["names"])
             for verb in ("lost", "gained") if document["features"][verb]]
    if document["microcode"]:
        parts.append(f"microcode {_value(document['microcode']['old'])} -> {_value(document['microcode']['new'])}")
    for finding, pair in document["findings"].items():
        was = "" if pair["old"] is None else f" (was {_value(pair['old'])})"
        parts.append(f"BIOS finding {finding} {_value(pair['new'])}{was}")
    others = [len(document["scalars"]), len(document["kernel"]), len(document["firmware"]),
              sum(len(document[k][v]) for k in ("host_only", "other_bits") for v in ("lost", "gained"))]
    if sum(others) and not parts:
        parts.append(f"{sum(others)} other differences (below)")
    return ", ".join(parts)


def _print_features(document: dict) -> None:
    for key, label in (("features", "Guest-visible features"), ("host_only", "Host-only bits (no guest sees them)"),
                       ("other_bits", "Other bits (OS-dependent, non-migratable, KVM-emulated)")):
        change = document[key]
        if not change["lost"] and not change["gained"]:
            continue
        section(label)
        for verb in ("lost", "gained"):
            if change[verb]:
                say("  ", (f"{verb} ({len(change[verb])}):", "bad" if verb == "lost" else "ok"))
                feature_groups(canonical(change[verb], document["names"]), document["names"], indent=4)


def _print_values(document: dict) -> None:
    rows = []
    if document["microcode"]:
        rows.append(("microcode", _value(document["microcode"]["old"]), _value(document["microcode"]["new"])))
    rows += [(name, _value(p["old"], name), _value(p["new"], name)) for name, p in document["scalars"].items()]
    rows += [(f"BIOS finding {name}", _value(p["old"]), _value(p["new"])) for name, p in document["findings"].items()]
    for section_name in ("kernel", "firmware"):
        rows += [(f"{section_name} {name}", _value(p["old"]), _value(p["new"])) for name, p in document[section_name].items()]
    if rows:
        section("Scalars, BIOS findings, microcode, kernel, firmware")
        folded_table(["", "before", "after"], rows)


def _print_impact(document: dict) -> None:
    impact = document["impact"]
    section("Impact")
    for kind, keys in impact["no_longer_meets"].items():
        highest, label = impact["highest"][kind], KIND_LABELS[kind][:-1]
        if highest["old"] == highest["new"]:
            head = [f"  highest {label}: ", (highest["new"] or "none", "name"), " (kept)"]
        else:
            head = [f"  highest {label}: ", (highest["old"] or "none", "name"), " -> ",
                    (highest["new"] or "none", "bad" if not highest["new"] else "name")]
        if keys:
            head.append(f"; no longer meets {len(keys)} {KIND_LABELS[kind]}:")
        say_wrapped(*head)
        if keys:
            words(keys, "      ")
    for kind, keys in impact["now_meets"].items():
        if keys:
            say_wrapped(f"  now meets {len(keys)} more {KIND_LABELS[kind]}: {' '.join(keys)}")
    causes: dict[str, list[str]] = {}
    for name, reason in impact["reasons"].items():
        causes.setdefault(reason, []).append(name)
    for reason, names in causes.items():
        say_wrapped(f"  likely cause of {' '.join(names)}: {reason}")
    lost = impact["cannot_move_back"]
    if lost:
        say_wrapped("  ", ("cannot move back", "bad"), f": VMs started on this host before the change that use "
                    f"{' '.join(lost)} cannot move back to it live; power-cycle them here, or mask those features "
                    "(cpucompat mask) before they start")


def print_diff(document: dict) -> None:
    """Summary first (what changed), the host and snapshots, then the detail and the impact."""
    old, new = document["old"], document["new"]
    when = lambda side: f" ({side['collected_at']})" if side["collected_at"] else ""  # noqa: E731
    if not document["changed"]:
        say(verdict(True, "same"), ": no change")
    else:
        say_wrapped(verdict(False, "changed"), f": {summary(document)}")
    say(f"  host {document['host']}")
    say_whole(f"    before: {old['input']}{when(old)}")
    say_whole(f"    after:  {new['input']}{when(new)}")
    if not document["changed"]:
        return
    _print_features(document)
    _print_values(document)
    _print_impact(document)


def print_history(document: dict) -> None:
    steps = document["steps"]
    changed = sum(1 for step in steps if step["changed"])
    say_wrapped(verdict(not changed, "changed" if changed else "same"),
                f": {document['host'] or '-'}, {len(steps) + 1 if steps else 0} snapshots, {changed} of "
                f"{len(steps)} steps changed the CPU")
    for n, step in enumerate(steps, 1):
        section(f"Step {n} of {len(steps)}")
        print_diff(step)
