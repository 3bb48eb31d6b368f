"""``cpucompat decode``: the JSON document and its text layout."""

from __future__ import annotations

from .. import levels
from ..decode import Decoded
from ..knowledge.features import feature_table
from ..text import printable
from .text import scalar_text, wrap


def decode_document(decoded: Decoded, vocabulary: str = "canonical", per_cpu: bool = False) -> dict:
    """The documented JSON shape of ``cpucompat decode --json``."""
    table = feature_table()
    document = {
        "input": decoded.path, "format": decoded.format, "vendor": decoded.vendor,
        "family": decoded.family, "model": decoded.model, "stepping": decoded.stepping,
        "brand": decoded.brand, "cpus": len(decoded.per_cpu), "names": vocabulary,
        "features": table.names(decoded.features, vocabulary),
        "fields": levels.fields_json(decoded.fields), "warnings": decoded.warnings,
    }
    if per_cpu:
        document["per_cpu"] = [
            {"cpu": c.index, "vendor": c.vendor, "family": c.family, "model": c.model,
             "stepping": c.stepping, "features": table.names(c.features, vocabulary),
             "fields": levels.fields_json(c.fields)}
            for c in decoded.per_cpu
        ]
    return document
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
    print(wrap(document["features"]))
    for cpu in document.get("per_cpu", []):
        print(f"cpu {cpu['cpu']}: family {cpu['family']} model {cpu['model']} stepping {cpu['stepping']}, "
              f"{len(cpu['features'])} features, core type {cpu['fields'].get('core_type') or '-'}")
