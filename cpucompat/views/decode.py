"""``cpucompat decode``: the JSON document and its text layout (the identity in one line, the
fields with leaves and XSAVE sets in hex, every feature once, grouped, in the vocabulary asked)."""

from __future__ import annotations

from .. import levels
from ..decode import Decoded
from ..knowledge.features import feature_table
from . import console
from .console import counted
from .text import scalar_text


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
    document["canonical_features"] = sorted(decoded.features)
    if per_cpu:
        document["per_cpu"] = [
            {"cpu": c.index, "vendor": c.vendor, "family": c.family, "model": c.model,
             "stepping": c.stepping, "features": table.names(c.features, vocabulary),
             "fields": levels.fields_json(c.fields)}
            for c in decoded.per_cpu
        ]
    return document
def print_decoded(document: dict) -> None:
    """Print a decode document: identity first, then the fields (hex for leaves and masks) and the
    features grouped, each once in the vocabulary asked."""
    fields = document["fields"]
    console.say((document["vendor"], "head"), f" family {document['family']} model {document['model']} "
                f"stepping {document['stepping']} ({fields.get('signature') or 'unknown signature'}), ",
                counted(document["cpus"], "CPU"), f", {counted(len(document['canonical_features']), 'feature')}")
    console.two_columns([("input", f"{document['input']} ({document['format']})"), ("brand", document["brand"] or "-")], 0)
    console.say("fields:")
    console.two_columns(((name, scalar_text(name, value)) for name, value in fields.items() if name != "signature"), 2)
    console.say(f"features ({len(document['canonical_features'])}, {document['names']} names):")
    console.feature_groups(document["canonical_features"], document["names"], indent=2)
    if document.get("per_cpu"):
        named = "" if document["names"] == "canonical" else f" (counting the features with a {document['names']} name)"
        console.say(f"per CPU{named}:")
    for cpu in document.get("per_cpu", []):
        console.say(f"  cpu {cpu['cpu']}: family {cpu['family']} model {cpu['model']} stepping {cpu['stepping']}, "
                    f"{counted(len(cpu['features']), 'feature')}, core type {cpu['fields'].get('core_type') or '-'}")
