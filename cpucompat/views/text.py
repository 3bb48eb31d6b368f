"""Human-readable terminal output of the CLI (the ``--json`` documents, laid out as text)."""

from __future__ import annotations

import textwrap

from ..text import printable


#: Fields people read in hex: CPUID leaf numbers (``0x80000008``, not 2147483656).
HEX_FIELDS = frozenset({"max_basic_leaf", "max_extended_leaf", "max_hypervisor_leaf"})


def scalar_text(name: str, value: object) -> str:
    """One scalar as text: leaves in hex, everything else as it is."""
    if name in HEX_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:#x}"
    return _field_text(value)


def _field_text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):  # xsave components
            return ", ".join(f"{c['name']}({c['size']})" if c.get("size") else c["name"] for c in value)
        return " ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def print_decoded(document: dict) -> None:
    """Print a decode document: identity, fields, then the feature list."""
    print(f"input:     {printable(document['input'])} ({document['format']})")
    print(f"vendor:    {document['vendor']}")
    print(f"signature: family {document['family']} model {document['model']} stepping {document['stepping']}"
          f"  ({document['fields'].get('signature') or 'unknown'})")
    print(f"brand:     {document['brand'] or '-'}")
    print(f"cpus:      {document['cpus']}")
    for name, value in document["fields"].items():
        if name != "signature":
            print(f"  {name + ':':<22}{scalar_text(name, value)}")
    print(f"features ({len(document['features'])}, {document['names']} names):")
    print(textwrap.fill(" ".join(document["features"]), width=100, initial_indent="  ", subsequent_indent="  "))
    for cpu in document.get("per_cpu", []):
        print(f"cpu {cpu['cpu']}: family {cpu['family']} model {cpu['model']} stepping {cpu['stepping']}, "
              f"{len(cpu['features'])} features, core type {cpu['fields'].get('core_type') or '-'}")


def _wrap(names: list[str]) -> str:
    return textwrap.fill(" ".join(names) or "-", width=100, initial_indent="  ", subsequent_indent="  ")


def print_baseline(document: dict) -> None:
    print(f"hosts ({len(document['hosts'])}): {', '.join(document['hosts'])}")
    print(f"vendor: {document['vendor'] or 'mixed (cross-vendor)'}")
    for kind, key in (("EVC mode", "evc_mode"), ("psABI level", "psabi_level"), ("QEMU model", "qemu_model")):
        extra = document["extra"][key.split("_")[0]]
        print(f"{kind + ':':<13}{document[key] or '-'}  (+{len(extra)} features beyond it)")
    for name, value in document["fields"].items():
        print(f"  {name + ':':<22}{scalar_text(name, value)}")
    print(f"features ({len(document['features'])}, {document['names']} names):")
    print(_wrap(document["features"]))
    for host, names in document["weakest_links"].items():
        print(f"weakest link {host} removes: {' '.join(names)}")
    if document.get("host_only"):
        print(f"host-only, no guest sees them (not judged; --all-bits judges them): {' '.join(document['host_only'])}")


def print_verdicts(document: dict) -> None:
    for target in document["targets"]:
        print(f"{document['source']} -> {target['target']}: {target['verdict']}")
        if target["vendor_mismatch"]:
            print(f"  vendor: {target['vendor_mismatch']['source']} vs {target['vendor_mismatch']['target']}")
        for feature in target["missing"]:
            others = ", ".join(f"{k} {v}" for k, v in feature.items() if k != "name")
            print(f"  missing {feature['name']}" + (f" ({others})" if others else ""))
        for name, values in target["lower"].items():
            print(f"  lower {name}: {scalar_text(name, values['source'])} -> {scalar_text(name, values['target'])}")
        if target.get("host_only"):
            print(f"  host-only, no guest sees them (not judged): {' '.join(target['host_only'])}")
        if target.get("emulated"):
            print(f"  KVM emulates on every host (not judged): {' '.join(target['emulated'])}")
        if target.get("missing_xsave_components"):
            print(f"  missing XSAVE components: {' '.join(target['missing_xsave_components'])}")


def print_mode_list(modes: list[dict]) -> None:
    for mode in modes:
        mark = " [R]" if mode["reconstructed"] else ""
        print(f"{mode['key']:<24}{mode['vendor'] or 'any':<14}L{mode['level']:<3}{mode['features']:>4} features  "
              f"{mode['label']}{mark}")


def print_mode_detail(mode: dict) -> None:
    print(f"{mode['key']}: {mode['label']} ({mode['vendor']}, level {mode['level']}, parent {mode['parent'] or '-'})")
    print(f"adds: {' '.join(mode['adds']) or '-'}")
    if mode.get("scalars"):
        reasoned = any(s.startswith("reasoning") for s in mode.get("scalar_sources", {}).values())
        print("presents: " + ", ".join(f"{name} {value:#x}" for name, value in mode["scalars"].items())
              + (" [R]" if reasoned else ""))
    if mode.get("provenance"):
        kinds = [source.split(":")[0] for source in mode["provenance"].values()]
        print("evidence per feature: " + ", ".join(f"{kind} {kinds.count(kind)}" for kind in dict.fromkeys(kinds))
              + " (--json lists it)")
    print(f"features ({len(mode['features'])}):")
    print(_wrap(mode["features"]))
    if mode["notes"]:
        print(textwrap.fill(f"notes: {mode['notes']}", width=100))


def print_evc_check(document: dict) -> None:
    for host in document["hosts"]:
        print(f"{host['host']}: {host['max_evc_mode'] or 'no EVC mode'}")
        if host["next_mode"]:
            print(f"  not {host['next_mode']}: lacks {' '.join(host['next_mode_missing'])}")
        for finding, names in host["likely_causes"].items():
            print(f"  likely cause: BIOS finding {finding} hides {' '.join(names)}")
    if "cluster" in document:
        cluster = document["cluster"]
        print(f"cluster: {cluster['max_evc_mode'] or 'no EVC mode'}" + (f" ({cluster['reason']})" if "reason" in cluster else ""))
