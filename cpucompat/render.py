"""Human-readable terminal output of the CLI (the ``--json`` documents, laid out as text)."""

from __future__ import annotations

import textwrap


def _field_text(value: object) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], dict):  # xsave components
            return ", ".join(f"{c['name']}({c['size']})" if c.get("size") else c["name"] for c in value)
        return " ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def print_decoded(document: dict) -> None:
    """Print a decode document: identity, fields, then the feature list."""
    print(f"input:     {document['input']} ({document['format']})")
    print(f"vendor:    {document['vendor']}")
    print(f"signature: family {document['family']} model {document['model']} stepping {document['stepping']}"
          f"  ({document['fields'].get('signature') or 'unknown'})")
    print(f"brand:     {document['brand'] or '-'}")
    print(f"cpus:      {document['cpus']}")
    for name, value in document["fields"].items():
        if name != "signature":
            print(f"  {name + ':':<22}{_field_text(value)}")
    print(f"features ({len(document['features'])}, {document['names']} names):")
    print(textwrap.fill(" ".join(document["features"]), width=100, initial_indent="  ", subsequent_indent="  "))
    for cpu in document.get("per_cpu", []):
        print(f"cpu {cpu['cpu']}: family {cpu['family']} model {cpu['model']} stepping {cpu['stepping']}, "
              f"{len(cpu['features'])} features, core type {cpu['fields'].get('core_type') or '-'}")
