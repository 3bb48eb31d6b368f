"""Text of ``fleet``: the summary, the next step, the hosts that cost the EVC mode, migration
domains and the per-vendor reports (the document is ``views/fleet_vendors.py``'s)."""

from __future__ import annotations

from rich.text import Text

from .console import items, next_steps, say, styled
from .fleet import lacks, print_baseline, print_classes, print_coverage, print_summary, print_what_ifs
from ..advice import VM_INPUT
from .lines import folded, folded_table, one_per_line, say_wrapped, section

SHOWN = 10
#: Host names shown per migration domain (``--json`` lists every host of a domain of up to 1,000).
DOMAIN_HOSTS = 5


def _bios(item: dict) -> Text:
    fixes = [styled(f"{remedy.removesuffix(' in the BIOS')}: it alone removes {' '.join(names)}", "ok")
             for names, remedy in zip(item["bios"].values(), item["remedies"])]
    return Text("\n").join(fixes) if fixes else styled("none known: leave them out", "warn")


def print_evc_costs(costs: list[dict], hosts: int) -> None:
    for cost in costs:
        section("Hosts that cost the EVC mode")
        say_wrapped(f"  {cost['costly_hosts']:,} {cost['vendor']} hosts keep the fleet at "
                    f"{cost['evc_mode'] or 'no EVC mode'}; the other {hosts - cost['costly_hosts']:,} reach "
                    f"{cost['reachable_evc_mode']} together:")
        rows = [(item["name"], f"{item['hosts']:,}", " ".join(item["missing"]), _bios(item),
                 one_per_line(item["examples"], item["hosts"])) for item in cost["classes"][:SHOWN]]
        folded_table(["class", "hosts", f"lacks of {cost['reachable_evc_mode']}", "change in the BIOS",
                      folded("e.g.", 28)], rows)
        if len(cost["classes"]) > SHOWN:
            say(f"  ... {len(cost['classes']) - SHOWN} more classes (--json lists them all)")


def print_domains(result: dict) -> None:
    section(f"Migration domains: {len(result['domains'])} (at most {result['k']}), one baseline each")
    rows = [(d["name"], f"{d['hosts']:,}", d["evc_mode"] or "none", d["qemu_model"] or "none",
             d["psabi_level"] or "none", lacks(d["gained"])) for d in result["domains"]]
    folded_table(["domain", "hosts", "EVC mode", "QEMU model", "psABI", "gains over the fleet-wide baseline"], rows)
    for d in result["domains"]:
        names = d.get("host_names") or d["examples"]
        say(f"  {d['hosts']:,} hosts of {d['name']}:")
        items(names[:DOMAIN_HOSTS], "    ")
        if d["hosts"] > min(len(names), DOMAIN_HOSTS):
            say(f"    +{d['hosts'] - min(len(names), DOMAIN_HOSTS):,} more (--json lists every host of a domain of up to "
                "1,000)")
    for note in result["notes"]:
        say(f"  note: {note}")


def print_next_steps(document: dict) -> None:
    """The document's ``next_steps``, and what ``VM.json`` in their mask commands stands for."""
    next_steps(document["next_steps"])
    if any(VM_INPUT in (step["command"] or "") for step in document["next_steps"]):
        say(f"    ({VM_INPUT}: the fingerprint of the VM's current host, or a dump taken inside the guest)")


def _print_one(document: dict) -> None:
    print_summary(document)
    print_next_steps(document)
    print_baseline(document)
    print_classes(document["classes"], document["hosts"])
    print_evc_costs(document.get("evc_costs", []), document["hosts"])
    if "domains" in document:
        print_domains(document["domains"])
    print_coverage(document["coverage"])
    print_what_ifs(document)


def print_fleet_document(document: dict) -> None:
    """A fleet document, or one per vendor."""
    if "vendors" not in document:
        _print_one(document)
        return
    vendors = ", ".join(f"{part['vendor']} {part['hosts']:,}" for part in document["vendors"])
    say(f"{document['hosts']:,} hosts of {len(document['vendors'])} CPU vendors ({vendors}): one report per vendor")
    for note in document["notes"]:
        say_wrapped(f"note: {note}")
    for part in document["vendors"]:
        section(f"=== {part['vendor']}: {part['hosts']:,} of {document['hosts']:,} hosts ===")
        _print_one(part)
