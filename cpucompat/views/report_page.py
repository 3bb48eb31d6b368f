"""``cpucompat report``: the fleet report as one self-contained HTML page (``views/html.py``).

No script, nothing fetched: inline CSS, tables, and ``<details>`` for what is long (host lists,
feature lists). Per CPU vendor: the summary first (the verdict and the next step), then the heat
map of CPUID classes x feature groups, the compatibility classes, each CPUID class's EVC / QEMU /
psABI ladder and why it stops, the weakest links, what BIOS settings explain, guest-OS floors and
the proposed migration domains. Hosts are aggregated by class (each class lists its hosts,
collapsed), so 10,000 hosts make a page of a few hundred kilobytes.

Every number the page shows from ``fleet``'s document carries it in a ``data-key`` / ``data-value``
attribute (per vendor section ``data-vendor``), so a test can read it back from the rendered DOM.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import html
from .report import HOST_NAMES
from .text import scalar_text

#: Features named inline before "(+N more)".
FIRST = 8
STYLE = """
.summary dt { font-weight: bold; float: left; clear: left; width: 16em; } .summary dd { margin-left: 17em; }
.verdict { font-size: 1.05em; } .bad { color: #c62828; } .good { color: #2e7d32; }
table.heat th.group { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: normal; }
table.heat td.cell { text-align: center; min-width: 2.2em; font-size: .85em; }
.h4 { background: #c8e6c9; } .h3 { background: #fff59d; } .h2 { background: #ffcc80; }
.h1 { background: #ef9a9a; } .h0 { background: #e57373; }
thead th { position: sticky; top: 0; background: #f5f5f5; }
details > summary { cursor: pointer; } .hosts { max-width: 60em; font-size: .85em; }
nav a { margin-right: 1em; } .note { color: #555; } .source { color: #555; font-size: .85em; }
section.vendor { border-top: 3px solid #90a4ae; margin-top: 2em; }
"""


def value(key: str, shown: object, raw: object = None) -> str:
    """A number or name from ``fleet``'s document, readable back from the DOM."""
    raw = shown if raw is None else raw
    return html.tag("span", html.text("-" if shown is None else shown), data_key=key,
                    data_value="" if raw is None else raw)


def names(items: Sequence[str], first: int = FIRST) -> str:
    """A feature or host list: the first ones inline, the rest collapsed."""
    if not items:
        return "-"
    head = html.text(", ".join(items[:first]))
    if len(items) <= first:
        return head
    label = f"{head} (+{len(items) - first} more)" if first else f"list ({len(items)})"
    return html.details(label, html.tag("div", html.text(", ".join(items[first:]))))


def hosts_block(key: str, count: int, host_names: Sequence[str]) -> str:
    """A class's host count (``data-key`` ``key``), with its hosts collapsed under it."""
    listed = html.text(", ".join(host_names))
    if len(host_names) < count:
        listed += html.text(f" ... and {count - len(host_names):,} more (a listing names at most {HOST_NAMES:,} hosts)")
    return html.details(value(key, f"{count:,}", count), html.tag("div", listed, class_="hosts"))


def summary_list(rows: Sequence[tuple[str, str]]) -> str:
    return html.tag("dl", "".join(html.tag("dt", html.text(k)) + html.tag("dd", v) for k, v in rows), class_="summary")


# --- per vendor --------------------------------------------------------------------------

def verdict(part: dict) -> str:
    """The one-line verdict and the next step, from ``fleet``'s EVC costs and domains."""
    fleet = part["fleet"]
    evc = fleet["evc_mode"]
    line = (f'All {fleet["hosts"]:,} hosts share EVC mode {evc}' if evc else
            f'The {fleet["hosts"]:,} hosts share no EVC mode')
    costs = fleet.get("evc_costs") or []
    for cost in costs:
        line += (f"; {cost['costly_hosts']:,} hosts cost it: without them the others reach "
                 f"{cost['reachable_evc_mode']} together")
        remedies = sorted({r for c in cost["classes"] for r in c["remedies"]})
        if remedies:
            line += " (" + "; ".join(remedies) + " on the hosts named below)"
    cls = "good" if evc and not costs else "bad"
    return html.tag("p", html.text(line + "."), class_=f"verdict {cls}")


def vendor_summary(part: dict) -> str:
    fleet = part["fleet"]
    fields = ", ".join(f"{k}={scalar_text(k, v)}" for k, v in fleet["fields"].items())
    rows = [("hosts", value("hosts", f"{fleet['hosts']:,}", fleet["hosts"])),
            ("compatibility classes", value("classes", len(fleet["classes"]))),
            ("CPUID classes", value("cpuid_classes", len(part["cpuid_classes"]))),
            ("baseline features", value("features", len(fleet["features"])) + " " + names(fleet["features"], 0)),
            ("EVC mode", value("evc_mode", fleet["evc_mode"])),
            ("QEMU model", value("qemu_model", fleet["qemu_model"])),
            ("psABI level", value("psabi_level", fleet["psabi_level"])),
            ("levelled fields", html.text(fields)),
            ("host-only, not judged", names(fleet.get("host_only") or [], 0))]
    return verdict(part) + summary_list(rows)


def heat_cell(total: int, lacks: list[str], group: str) -> str:
    have = total - len(lacks)
    level = 4 if not lacks else min(3, int(4 * have / total)) if total else 4
    title = f"{group}: all {total}" if not lacks else f"{group}: {have} of {total}; lacks {', '.join(lacks)}"
    return html.tag("td", html.text(f"{have}/{total}"), class_=f"cell h{level}", title=title)


def heat_map(part: dict) -> str:
    """``fleet``'s compatibility classes x feature groups, each class with its hosts."""
    groups, total = part["heat_groups"], part["fleet"]["hosts"]
    rows = []
    for item in part["heat"]:
        cells = "".join(heat_cell(len(g["features"]), lacks, g["label"]) for g, lacks in zip(groups, item["lacks"]))
        rows.append(html.tag("tr", html.tag("td", html.text(item["name"])) + html.tag("td", html.text(item["id"]))
                             + html.tag("td", hosts_block("class_hosts", item["hosts"], item["host_names"]))
                             + html.tag("td", html.text(f"{item['hosts'] / total:.1%}")) + cells,
                             data_class_id=item["id"]))
    head = "".join(html.tag("th", html.text(h)) for h in ("class", "id", "hosts", "share"))
    head += "".join(html.tag("th", html.text(f"{g['label']} ({len(g['features'])})"), class_="group",
                             title=", ".join(g["features"])) for g in groups)
    legend = ("Rows: fleet's compatibility classes (hosts with identical guest-visible features), each listing its "
              "hosts. Columns: the features judged, by family. A cell counts the features of the family the class "
              "offers a guest; its tooltip names those it lacks. Green: all; yellow, orange, red: fewer.")
    table = html.tag("table", f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>", class_="heat")
    return html.tag("p", html.text(legend), class_="note") + table


def rung(step: dict) -> str:
    if step["next"] is None:
        return html.tag("b", html.text(step["highest"] or "none")) + html.text(" (no rung above it)")
    stop = f" — {step['next']} needs {', '.join(step['missing'][:FIRST])}"
    more = f" (+{len(step['missing']) - FIRST} more)" if len(step["missing"]) > FIRST else ""
    return html.tag("b", html.text(step["highest"] or "none")) + html.text(stop + more)


def ladder_table(part: dict) -> str:
    rows = [html.tag("tr", html.tag("td", html.text(c["name"]))
                     + html.tag("td", hosts_block("cpuid_class_hosts", c["hosts"], c["host_names"])) + html.tag("td", html.text(c["signature"]))
                     + html.tag("td", html.text(c["compatibility_class"]))
                     + "".join(html.tag("td", rung(c["ladder"][k])) for k in ("evc", "qemu", "psabi")))
            for c in part["cpuid_classes"]]
    note = html.tag("p", html.text("Per CPUID class (hosts with identical CPUID): the highest EVC mode "
                                   "(as vCenter judges hosts), QEMU model and psABI level, and why it stops there: "
                                   "the next rung and the first features the class lacks of it."), class_="note")
    return note + html.grid(["CPUID class", "hosts", "CPU", "compatibility class", "EVC mode", "QEMU model",
                             "psABI level"], rows, class_="ladder")


def weakest_section(part: dict) -> str:
    weak = part["weakest_links"]
    if not weak["classes"]:
        return html.tag("p", html.text(f"No class of at most {weak['few']:,} hosts removes a feature on its own."))
    rows = [html.tag("tr", html.tag("td", html.text(c["name"])) + html.tag("td", html.text(f"{c['hosts']:,}"))
                     + html.tag("td", names(c["removes"]))) for c in weak["classes"]]
    w = weak["without"]
    after = (f"Without these {w['hosts']:,} hosts the others reach EVC {w['evc_mode'] or '-'}, QEMU "
             f"{w['qemu_model'] or '-'}, psABI {w['psabi_level'] or '-'}, and gain {len(w['gained'])} features: ")
    return (html.tag("p", html.text(f"Classes whose hosts (at most {weak['few']:,} hosts together, 5%) alone remove "
                                    "a feature from the baseline:"), class_="note")
            + html.grid(["compatibility class", "hosts", "removes"], rows, class_="weakest")
            + html.tag("p", html.text(after) + names(w["gained"])))


def bios_section(part: dict) -> str:
    out = []
    for cost in part["fleet"].get("evc_costs") or []:
        rows = [html.tag("tr", html.tag("td", html.text(c["name"])) + html.tag("td", value("cost_hosts", f"{c['hosts']:,}", c["hosts"]))
                         + html.tag("td", names(c["missing"])) + html.tag("td", html.text("; ".join(c["remedies"]) or "-"))
                         + html.tag("td", html.text(", ".join(c["examples"]))))
                for c in cost["classes"]]
        out.append(html.tag("p", html.text(f"The hosts that cost the EVC mode {cost['reachable_evc_mode']} "
                                           f"({cost['costly_hosts']:,} hosts; fleet's evc_costs):")))
        out.append(html.grid(["CPUID class", "hosts", f"lacks of {cost['reachable_evc_mode']}", "BIOS setting",
                              "e.g."], rows, class_="evc-costs", data_costly_hosts=cost["costly_hosts"]))
    rows = [html.tag("tr", html.tag("td", html.text(e["class"])) + html.tag("td", html.text(f"{e['hosts']:,}"))
                     + html.tag("td", html.text(e["signature"])) + html.tag("td", names(e["lacking"]))
                     + html.tag("td", html.text("; ".join(e["remedies"]) or "-")) + html.tag("td", names(e["unexplained"])))
            for e in part["same_cpu"]]
    out.append(html.tag("p", html.text("CPUID classes that lack features other hosts with the same CPU have, and the "
                                       "BIOS setting or microcode update that explains them (inferred from the "
                                       "features: a fleet table keeps no collector findings); nothing in cpucompat's "
                                       "data explains the rest (a hypervisor, firmware or microcode may)."), class_="note"))
    out.append(html.grid(["CPUID class", "hosts", "CPU", "lacks", "BIOS setting or update", "not explained"], rows,
                         class_="same-cpu") if rows else html.tag("p", html.text("None.")))
    return "".join(out)


def floors_table(part: dict) -> str:
    total = part["fleet"]["hosts"]
    rows = []
    for f in part["guest_floors"]:
        verdict = "boots" if f["boots"] else "will not boot: needs " + ", ".join(f["missing"])
        rows.append(html.tag("tr", html.tag("td", html.text(f["label"])) + html.tag("td", html.text(f["psabi"] or "-"))
                             + html.tag("td", html.text(verdict), class_="good" if f["boots"] else "bad",
                                        data_guest=f["guest"], data_boots=str(f["boots"]).lower())
                             + html.tag("td", html.text(f"{f['hosts_meeting']:,} of {total:,}"))
                             + html.tag("td", html.text(f["source"]), class_="source")))
    return html.grid(["guest OS", "psABI level", "under the fleet baseline", "hosts that meet it on their own",
                      "source"], rows, class_="floors")


def domains_section(part: dict) -> str:
    domains = part["fleet"].get("domains")
    if not domains:
        return html.tag("p", html.text("Not proposed (--domains)."))
    rows = []
    for d in domains["domains"]:
        listed = d.get("host_names") or d["examples"]
        rows.append(html.tag("tr", html.tag("td", html.text(d["name"])) + html.tag("td", hosts_block("domain_hosts", d["hosts"], listed))
                             + html.tag("td", html.text(d["classes"]))
                             + "".join(html.tag("td", value(k, d[k])) for k in ("evc_mode", "qemu_model", "psabi_level"))
                             + html.tag("td", html.text(d["features"])) + html.tag("td", names(d["gained"])),
                             data_domain=d["name"]))
    notes = "".join(html.tag("p", html.text(n), class_="note") for n in domains["notes"])
    return (html.tag("p", html.text(f"At most {domains['k']} groups, one baseline each, keeping most for VMs "
                                    "(fleet --domains)."), class_="note")
            + html.grid(["domain", "hosts", "classes", "EVC mode", "QEMU model", "psABI level", "features",
                         "gained over the fleet-wide baseline"], rows, class_="domains") + notes)


SECTIONS = (("heat", "Compatibility classes x feature groups (heat map)", heat_map),
            ("ladder", "EVC / QEMU / psABI ladder", ladder_table),
            ("weakest", "Weakest links", weakest_section),
            ("bios", "BIOS findings", bios_section),
            ("floors", "Guest-OS floors", floors_table),
            ("domains", "Migration domains", domains_section))


def vendor_section(part: dict, index: int, total: int) -> str:
    anchor = f"v{index}"
    vendor = part["fleet"]["vendor"] or "mixed (cross-vendor)"
    nav = html.tag("nav", "".join(html.tag("a", html.text(title), href=f"#{anchor}-{key}") for key, title, _ in SECTIONS))
    body = html.tag("h2", html.text(f"{vendor}: {part['fleet']['hosts']:,} of {total:,} hosts"), id=anchor) + nav
    body += vendor_summary(part)
    for key, title, render in SECTIONS:
        body += html.tag("h3", html.text(title), id=f"{anchor}-{key}") + render(part)
    return html.tag("section", body, class_="vendor", data_vendor=part["fleet"]["vendor"] or "")


def report_page(document: dict, inputs: Sequence[str] = (), generator: str = "cpucompat") -> str:
    """The whole page."""
    hosts = document["hosts"]
    vendors = [p["fleet"]["vendor"] or "mixed" for p in document["vendors"]]
    head = html.tag("h1", html.text(f"Fleet report: {hosts:,} hosts"))
    rows = [("hosts", value("total_hosts", f"{hosts:,}", hosts)),
            ("CPU vendors", value("vendors", ", ".join(vendors), len(vendors))),
            ("inputs", names(list(inputs), 3)), ("written by", html.text(generator))]
    if document["skipped"]:
        rows.append(("skipped files", names([f"{s['input']}: {s['error']}" for s in document["skipped"]], 0)))
    notes = "".join(html.tag("p", html.text(n), class_="note") for n in document["notes"])
    nav = html.tag("nav", "".join(html.tag("a", html.text(v), href=f"#v{i}") for i, v in enumerate(vendors)))
    sections = "".join(vendor_section(p, i, hosts) for i, p in enumerate(document["vendors"]))
    return html.page(f"cpucompat fleet report: {hosts:,} hosts", head + summary_list(rows) + notes + nav + sections, STYLE)
