#!/usr/bin/env python3
"""Write baselines/qemu-<major.minor>.json from what an installed QEMU says over QMP.

QEMU runs without a guest (``-machine none -nodefaults -nographic -qmp stdio``). For every
versioned model (``Haswell-v1`` ... from ``query-cpu-definitions``, aliases resolved) the table
records ``query-cpu-model-expansion`` type static (the feature properties) and type full (level,
xlevel, phys-bits) under TCG, and the same static expansion under KVM where ``-accel kvm`` starts.
Without KVM the KVM view is derived from the TCG one with QEMU's KVM defaults (below); the one bit
TCG hides, vme (TCG turns it off on every named model), is then carried over from ``--previous``.

QEMU property names become canonical names through the qemu_name column of data/features.csv.
Properties that are no CPUID feature bit are kept apart: ``msr_features`` (vmx-* capability bits),
``paravirt`` (KVM leaf 0x40000001 bits) and ``other_properties`` (every other true property the
feature table does not know, e.g. IA32_ARCH_CAPABILITIES bits).

Also ``--consumer-names``: print the qemu-<version> unknown-feature rows of data/consumer-names.csv
(qemu_name values of features.csv this QEMU has no property for).

Usage: scripts/gen_qemu_models.py [--qemu-cmd "chroot /tmp/trixie-qemu qemu-system-x86_64"]
       [-o FILE | --check FILE] [--previous FILE] [--no-kvm] [--consumer-names]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpucompat.knowledge.features import feature_table

#: QEMU's KVM defaults for named models (target/i386/kvm/kvm-cpu.c kvm_default_props, the
#: same list in QEMU 7.2 and 10.x), as the in-kernel irqchip of pc/q35 machines leaves them.
KVM_DEFAULT_PROPS = {
    "kvmclock": True, "kvm-nopiodelay": True, "kvm-asyncpf": True, "kvm-steal-time": True,
    "kvm-pv-eoi": True, "kvmclock-stable-bit": True, "x2apic": True,
    "kvm-msi-ext-dest-id": False, "acpi": False, "monitor": False, "svm": False,
}
#: QEMU's TCG defaults for named models (target/i386/tcg/tcg-cpu.c tcg_default_props).
TCG_DEFAULT_PROPS = {"vme": False}
#: QEMU feature_dependencies[] entries a KVM default switches: svm off clears FEAT_SVM (0x8000000A EDX).
SVM_WORD = (0x8000000A, 0, "edx")
#: Generic models: no vendor-specific features, offered on either vendor's hosts.
GENERIC_MODELS = {"486", "pentium", "pentium2", "pentium3", "qemu32", "qemu64", "kvm32", "kvm64"}
#: phys-bits 0 means TCG_PHYS_ADDR_BITS for a long-mode CPU (target/i386/cpu.c x86_cpu_realizefn).
DEFAULT_PHYS_BITS = 40
VERSIONED = re.compile(r"^(?P<base>.+)-v(?P<version>\d+)$")
SCALARS = {"vendor": "vendor", "family": "family", "model": "model", "stepping": "stepping",
           "model-id": "model_id", "level": "level", "xlevel": "xlevel"}


class Qmp:
    """One QEMU process speaking QMP on stdin/stdout."""

    def __init__(self, qemu_cmd: list[str], accel: str) -> None:
        argv = [*qemu_cmd, "-machine", "none", "-accel", accel, "-nodefaults", "-nographic", "-qmp", "stdio"]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        greeting = self._read()
        if greeting is None or "QMP" not in greeting:
            self.process.kill()
            raise RuntimeError(f"{' '.join(argv)}: no QMP greeting: {self.process.stderr.read().strip()}")
        self.version = greeting["QMP"]["version"]
        self.execute("qmp_capabilities")

    def _read(self) -> dict | None:
        for line in self.process.stdout:
            message = json.loads(line)
            if "event" not in message:
                return message
        return None

    def execute(self, command: str, **arguments) -> object:
        request = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self._read()
        if reply is None or "error" in reply:
            raise RuntimeError(f"QMP {command} {arguments}: {reply}")
        return reply["return"]

    def expand(self, model: str, kind: str) -> dict:
        return self.execute("query-cpu-model-expansion", type=kind, model={"name": model})["model"]["props"]

    def close(self) -> None:
        try:
            self.execute("quit")
        except (RuntimeError, BrokenPipeError, ValueError):
            pass
        self.process.wait(timeout=10)


def start(qemu_cmd: list[str], accel: str) -> Qmp | None:
    try:
        return Qmp(qemu_cmd, accel)
    except (RuntimeError, OSError, ValueError):
        return None


def version_string(version: dict) -> str:
    q = version["qemu"]
    return f"{q['major']}.{q['minor']}.{q['micro']}"


def release(version: dict) -> str:
    return f"{version['qemu']['major']}.{version['qemu']['minor']}"


def enabled(props: dict) -> set[str]:
    return {name for name, value in props.items() if value is True}


def derive_kvm(tcg_props: dict, vme: bool) -> set[str]:
    """The KVM view from the TCG expansion: KVM defaults applied, svm's dependants cleared."""
    table = feature_table()
    props = {**tcg_props, **KVM_DEFAULT_PROPS, "vme": vme}
    if not props.get("svm"):
        for feature in table.by_location.get(SVM_WORD, ()):
            if feature.qemu:
                props[feature.qemu] = False
    return enabled(props)


def classify(props: set[str]) -> dict[str, list[str]]:
    """Split QEMU property names into canonical CPUID features and the rest."""
    qemu = feature_table().by_vocabulary["qemu"]
    out: dict[str, set[str]] = {"features": set(), "paravirt": set(), "msr_features": set(), "other_properties": set()}
    for name in props:
        feature = qemu.get(name)
        if feature is not None and not 0x40000000 <= feature.leaf <= 0x400000FF:
            out["features"].add(feature.name)
        elif feature is not None or name.startswith("kvm"):
            out["paravirt"].add(name)
        elif name.startswith("vmx-"):
            out["msr_features"].add(name)
        else:
            out["other_properties"].add(name)
    return {key: sorted(values) for key, values in out.items()}


def previous_vme(previous: dict | None) -> dict[str, bool]:
    if not previous:
        return {}
    return {entry["key"]: "vme" in entry["features"] for entry in previous["baselines"]}


def measure(qemu_cmd: list[str], use_kvm: bool, previous: dict | None) -> dict:
    """Everything the table needs, straight from QEMU."""
    tcg = start(qemu_cmd, "tcg")
    if tcg is None:
        raise SystemExit(f"error: {' '.join(qemu_cmd)} does not start with -accel tcg")
    definitions = tcg.execute("query-cpu-definitions")
    models = sorted((d for d in definitions if VERSIONED.match(d["name"])), key=lambda d: model_order_key(d["name"]))
    aliases = {d["name"]: d["alias-of"] for d in definitions if d.get("alias-of")}
    measured = {d["name"]: {"definition": d, "static": tcg.expand(d["name"], "static"),
                            "full": tcg.expand(d["name"], "full")} for d in models}
    qemu_version = tcg.version
    tcg.close()
    kvm = start(qemu_cmd, "kvm") if use_kvm else None
    if kvm is not None:
        for name, item in measured.items():
            item["kvm"] = enabled(kvm.expand(name, "static"))
            derived = derive_kvm(item["static"], "vme" in item["kvm"])
            if derived != item["kvm"]:
                print(f"warning: {name}: KVM defaults do not explain -accel kvm: {sorted(derived ^ item['kvm'])}",
                      file=sys.stderr)
        kvm.close()
    else:
        vme = previous_vme(previous)
        for name, item in measured.items():
            item["kvm"] = derive_kvm(item["static"], vme.get(name, False))
    return {"version": qemu_version, "models": measured, "aliases": aliases, "kvm_measured": kvm is not None,
            "unversioned": sorted(d["name"] for d in definitions if not VERSIONED.match(d["name"]) and not d.get("alias-of"))}


def model_order_key(name: str) -> tuple[str, int]:
    match = VERSIONED.match(name)
    return (match["base"], int(match["version"])) if match else (name, 0)


def phys_bits(features: set[str]) -> int:
    """QEMU's default physical address width: 40 in long mode, else 36 with PAE/PSE36, else 32."""
    if "lm" in features:
        return DEFAULT_PHYS_BITS
    return 36 if {"pae", "pse36"} & features else 32


def entry_for(name: str, item: dict, aliases: list[str], source: str) -> dict:
    base, version = model_order_key(name)
    definition, static, full = item["definition"], item["static"], item["full"]
    unavailable = set(definition.get("unavailable-features", []))
    kvm_view, tcg_view = classify(item["kvm"]), classify(enabled(static) - unavailable)
    kvm_set, tcg_set = set(kvm_view["features"]), set(tcg_view["features"])
    # libvirt names a version by its unversioned alias (Haswell, Haswell-noTSX), else by itself
    unversioned = sorted(aliases, key=lambda a: (a != base, a))[:1]
    cpuid = {ours: full.get(theirs) for theirs, ours in SCALARS.items()}
    cpuid["phys_bits"] = full.get("phys-bits") or phys_bits(set(kvm_view["features"]))
    entry = {
        "key": name,
        "label": f"{name} ({', '.join(aliases)})" if aliases else name,
        "vendor": None if base in GENERIC_MODELS else static.get("vendor"),
        "parent": f"{base}-v{version - 1}" if version > 1 else None,
        "level": 0,
        "features": kvm_view["features"],
        "sources": [source],
        "reconstructed": False,
        "notes": f"Version {version} of QEMU model {base}.",
        "qemu_name": name,
        "libvirt_name": unversioned[0] if unversioned else name,
        "libvirt_aliases": sorted(a for a in [*aliases, name] if a not in unversioned),
        "msr_features": kvm_view["msr_features"],
        "qemu_aliases": sorted(aliases),
        "cpuid": cpuid,
        "paravirt": kvm_view["paravirt"],
        "other_properties": kvm_view["other_properties"],
        "tcg": {"adds": sorted(tcg_set - kvm_set), "removes": sorted(kvm_set - tcg_set),
                "unavailable": sorted(unavailable)},
        "deprecated": bool(definition.get("deprecated")),
    }
    if not entry["libvirt_aliases"]:
        del entry["libvirt_aliases"]
    return entry


def build(measured: dict) -> dict:
    """The baselines document of one QEMU version."""
    version = measured["version"]
    source = (f"QEMU {version_string(version)} ({version.get('package', '').strip() or 'upstream'}): "
              "query-cpu-model-expansion static and full, -machine none")
    aliases_of: dict[str, list[str]] = {}
    for alias, target in measured["aliases"].items():
        aliases_of.setdefault(target, []).append(alias)
    entries = [entry_for(name, item, aliases_of.get(name, []), source) for name, item in measured["models"].items()]
    assign_levels(entries)
    table = feature_table()
    by_key = {e["key"]: e for e in entries}
    for entry in entries:
        features = set(entry["features"])
        if entry["parent"]:
            if removes := sorted(set(by_key[entry["parent"]]["features"]) - features):
                entry["removes"] = removes
        if unmet := sorted(n for n in features if not table.requires.get(n, frozenset()) <= features):
            entry["unmet_dependencies"] = unmet
    ordered = sorted(entries, key=lambda e: e["level"])
    return {
        "kind": "qemu",
        "description": (f"QEMU {release(version)}'s named x86 CPU models, one entry per version (Name-vN), as "
                        f"QEMU {version_string(version)} itself defines them, generated by scripts/gen_qemu_models.py. "
                        "'features' is what a guest gets under KVM (canonical CPUID features; the KVM defaults turn "
                        "svm, monitor and acpi off and x2apic on); 'tcg' says how what a TCG guest gets differs "
                        "(adds, removes) and what TCG cannot emulate and drops (unavailable, QEMU names). Non-CPUID properties are kept apart: msr_features, paravirt, "
                        "other_properties. 'cpuid' holds the model's vendor, family/model/stepping, level, xlevel "
                        "and phys-bits (40 unless host-phys-bits=on)."),
        "qemu": {"version": version_string(version), "package": version.get("package", "").strip(),
                 "unversioned_models": measured["unversioned"]},
        "baselines": [reorder(e) for e in ordered],
    }


def assign_levels(entries: list[dict]) -> None:
    """Model lines ordered by their first version's feature count, versions in order within a line."""
    lines: dict[str, list[dict]] = {}
    for entry in entries:
        lines.setdefault(model_order_key(entry["key"])[0], []).append(entry)
    order = sorted(lines, key=lambda base: (len(lines[base][0]["features"]), base))
    level = 0
    for base in order:
        for entry in sorted(lines[base], key=lambda e: model_order_key(e["key"])[1]):
            entry["level"] = level
            level += 1


KEY_ORDER = ("key", "label", "vendor", "parent", "level", "features", "removes", "unmet_dependencies", "sources",
             "reconstructed", "notes", "qemu_name", "libvirt_name", "libvirt_aliases", "msr_features", "qemu_aliases",
             "cpuid", "paravirt", "other_properties", "tcg", "deprecated")


def reorder(entry: dict) -> dict:
    return {key: entry[key] for key in KEY_ORDER if key in entry}


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def unknown_feature_names(qemu_cmd: list[str]) -> list[str]:
    """qemu_name values of features.csv this QEMU has no -cpu property for."""
    tcg = start(qemu_cmd, "tcg")
    if tcg is None:
        raise SystemExit(f"error: {' '.join(qemu_cmd)} does not start with -accel tcg")
    known = set(tcg.expand("max", "full"))
    tcg.close()
    return sorted({f.qemu for f in feature_table().features if f.qemu} - known)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qemu-cmd", default="qemu-system-x86_64", help="how to run QEMU (shell words)")
    parser.add_argument("-o", "--output", help="write here (default: baselines/qemu-<major.minor>.json)")
    parser.add_argument("--check", help="exit 1 when regenerating would change this file")
    parser.add_argument("--previous", help="table whose vme bits fill in a KVM view derived without KVM")
    parser.add_argument("--no-kvm", action="store_true", help="derive the KVM view even where KVM starts")
    parser.add_argument("--consumer-names", action="store_true", help="print consumer-names.csv rows instead")
    args = parser.parse_args(argv)
    qemu_cmd = shlex.split(args.qemu_cmd)
    if args.consumer_names:
        tcg = start(qemu_cmd, "tcg")
        name = f"qemu-{release(tcg.version)}"
        tcg.close()
        sys.stdout.write("".join(f"{name},unknown-feature,{n}\n" for n in unknown_feature_names(qemu_cmd)))
        return 0
    previous_path = args.previous or args.check
    previous = json.loads(Path(previous_path).read_text(encoding="utf-8")) if previous_path and Path(previous_path).exists() else None
    document = build(measure(qemu_cmd, not args.no_kvm, previous))
    text = render(document)
    if args.check:
        same = Path(args.check).exists() and Path(args.check).read_text(encoding="utf-8") == text
        print(f"{args.check}: {'unchanged' if same else 'would change'}", file=sys.stderr)
        return 0 if same else 1
    major_minor = document["qemu"]["version"].rsplit(".", 1)[0]
    output = Path(args.output or REPO / "baselines" / f"qemu-{major_minor}.json")
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output} ({len(document['baselines'])} models)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
