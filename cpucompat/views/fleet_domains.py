"""Text of ``fleet``: the summary, the next step, the hosts that cost the EVC mode, migration
domains and the per-vendor reports (the document is ``views/fleet_vendors.py``'s)."""

from __future__ import annotations

from rich.text import Text

from ..advice import mask_command
from ..knowledge import baselines
from .console import items, say, styled
from .fleet import lacks, print_baseline, print_classes, print_coverage, print_summary, print_what_ifs
from .lines import folded, folded_table, one_per_line, say_whole, say_wrapped, section

SHOWN = 10
#: Host names shown per migration domain (``--json`` lists every host of a domain of up to 1,000).
DOMAIN_HOSTS = 5
#: Stands for the VM's CPU in the ``cpucompat mask`` commands the next step prints.
VM_INPUT = "VM.json"


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


def _step(label: str, text: str, command: str | None = None) -> None:
    say_wrapped("  - ", (label, "head"), f": {text}", hanging="    ")
    if command:
        say_whole("      ", (command, "name"))


def bios_fixes(cost: dict) -> list[tuple[str, int]]:
    """(BIOS change, hosts) over every class that costs the EVC mode, the most hosts first; the
    hosts no BIOS setting explains as ``(None, hosts)``."""
    hosts: dict[str | None, int] = {}
    for item in cost["classes"]:
        for remedy in item["remedies"] or [None]:
            hosts[remedy] = hosts.get(remedy, 0) + item["hosts"]
    return sorted(hosts.items(), key=lambda pair: (pair[0] is None, -pair[1]))


def _evc_steps(document: dict, command: str) -> str | None:
    """The EVC lines of the next step; the mode to mask VMs down to."""
    if document["vendor"] is None:
        _step("vSphere", "no EVC mode spans two CPU vendors")
        return None
    cost = next(iter(document.get("evc_costs") or []), None)
    if cost:
        _step("EVC", f"{cost['costly_hosts']:,} hosts keep the fleet at {cost['evc_mode'] or 'no EVC mode'}; "
              f"fixed or left out, the other {document['hosts'] - cost['costly_hosts']:,} reach "
              f"{cost['reachable_evc_mode']} together (hosts below):")
        for remedy, hosts in bios_fixes(cost):
            say("      ", (remedy, "ok") if remedy else ("no BIOS setting explains the loss, leave out", "warn"),
                f" on {hosts:,} hosts")
        if "domains" not in document:
            _step("domains", "set the weakest hosts apart (migration domains, one baseline each; a larger K, more)", f"{command} --domains 2")
    mode = cost["reachable_evc_mode"] if cost else document["evc_mode"]
    if mode:
        then = " once they are fixed or left out" if cost else ""
        _step("vSphere", f"set the cluster's EVC mode to {mode}{then}; per VM:",
              mask_command(VM_INPUT, evc=mode, fmt="vmx-evc"))
    else:
        _step("vSphere", "no EVC mode fits every host")
    return mode


def _64_bit(model: str) -> bool:
    """Whether a QEMU model offers the base psABI level (x86-64): a 32-bit model such as kvm32 is
    no answer for 64-bit guests."""
    base = min(baselines.load_baselines("psabi"), key=lambda b: b.level)
    return base.required <= baselines.get(model).features


def _qemu_step(document: dict) -> str | None:
    """The QEMU line: the fleet's QEMU model when it is a 64-bit one, else the psABI level."""
    model = document["qemu_model"]
    if model and _64_bit(model):
        _step("QEMU/KVM", f"start the VMs with -cpu {model}; per VM:", mask_command(VM_INPUT, qemu_model=model))
        return model
    level = document["psabi_level"]
    why = f"the highest, {model}, is a 32-bit one" if model else "none does"
    if level:
        _step("QEMU/KVM", f"no 64-bit QEMU model fits every host ({why}); mask each VM to {level}:",
              mask_command(VM_INPUT, qemu_model=level))
    else:
        _step("QEMU/KVM", f"no 64-bit QEMU model fits every host ({why})")
    return level


def print_next_step(document: dict, command: str) -> None:
    """What to configure for this baseline, which hosts to fix or leave out, the commands to run."""
    section("Next step")
    mode = _evc_steps(document, command)
    model = _qemu_step(document)
    if "domains" in document:
        _step("domains", "configure each migration domain's EVC mode and QEMU model (below)")
    elif len(document["classes"]) > 1 and not document.get("evc_costs"):
        _step("domains", "see how far splitting the fleet raises the baseline", f"{command} --domains 2")
    if mode or model:
        say(f"  ({VM_INPUT}: the fingerprint of the VM's current host, or a dump taken inside the guest)")


def _print_one(document: dict, command: str) -> None:
    print_summary(document)
    print_next_step(document, command)
    print_baseline(document)
    print_classes(document["classes"], document["hosts"])
    print_evc_costs(document.get("evc_costs", []), document["hosts"])
    if "domains" in document:
        print_domains(document["domains"])
    print_coverage(document["coverage"])
    print_what_ifs(document)


def print_fleet_document(document: dict, command: str = "cpucompat fleet INPUT...") -> None:
    """A fleet document, or one per vendor; ``command`` is the ``cpucompat fleet`` command line
    that reads the same fleet (shell-quoted), for the next step."""
    if "vendors" not in document:
        _print_one(document, command)
        return
    vendors = ", ".join(f"{part['vendor']} {part['hosts']:,}" for part in document["vendors"])
    say(f"{document['hosts']:,} hosts of {len(document['vendors'])} CPU vendors ({vendors}): one report per vendor")
    for note in document["notes"]:
        say_wrapped(f"note: {note}")
    for part in document["vendors"]:
        section(f"=== {part['vendor']}: {part['hosts']:,} of {document['hosts']:,} hosts ===")
        _print_one(part, command)
