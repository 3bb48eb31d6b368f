"""Text of ``fleet``'s per-vendor reports, EVC costs and migration domains (``views/fleet_vendors.py``)."""

from __future__ import annotations

import textwrap

from ..text import printable
from .fleet import print_fleet

SHOWN = 10


def _hosts(examples: list[str], count: int) -> str:
    names = ", ".join(printable(h) for h in examples)
    return names + (f" and {count - len(examples)} more" if count > len(examples) else "")


def print_evc_costs(costs: list[dict]) -> None:
    for cost in costs:
        print(f"EVC mode: {cost['evc_mode'] or 'none'}; without {cost['costly_hosts']} host(s) the "
              f"{printable(cost['vendor'])} hosts reach {cost['reachable_evc_mode']} together. The hosts that cost it:")
        for item in cost["classes"][:SHOWN]:
            print(f"  {printable(item['name'])} ({item['hosts']} hosts: {_hosts(item['examples'], item['hosts'])})")
            print(f"    lacks {' '.join(item['missing'])}")
            for finding, remedy in zip(item["bios"], item["remedies"]):
                print(f"    {remedy} on these hosts: it alone removes {' '.join(item['bios'][finding])}")
        if len(cost["classes"]) > SHOWN:
            print(f"  ... {len(cost['classes']) - SHOWN} more classes (see --json)")


def print_domains(result: dict) -> None:
    print(f"migration domains (at most {result['k']}; one baseline each):")
    for d in result["domains"]:
        print(f"  {printable(d['name'])}: {d['hosts']} hosts ({d['classes']} classes), EVC {d['evc_mode'] or '-'}, "
              f"QEMU {d['qemu_model'] or '-'}, psABI {d['psabi_level'] or '-'}, {d['features']} features")
        print(f"    hosts: {_hosts(d['examples'], d['hosts'])}")
        gained = " ".join(d["gained"]) or "-"
        print(textwrap.fill(f"gained over the fleet-wide baseline: {gained}", width=100,
                            initial_indent="    ", subsequent_indent="      "))
    for note in result["notes"]:
        print(f"  note: {note}")


def _print_one(document: dict) -> None:
    print_fleet(document)
    print_evc_costs(document.get("evc_costs", []))
    if "domains" in document:
        print_domains(document["domains"])


def print_fleet_document(document: dict) -> None:
    """A fleet document, or one per vendor."""
    if "vendors" not in document:
        _print_one(document)
        return
    for note in document["notes"]:
        print(f"note: {note}")
    for part in document["vendors"]:
        print(f"\n=== {printable(part['vendor'] or '-')}: {part['hosts']} of {document['hosts']} hosts ===")
        _print_one(part)
