"""The seed's vMotion "Maps" picture as one self-contained HTML page (inline SVG, no script, no network).

One map per VM: the VM, its current host, every target host, the datastores and port groups it
uses. A target it can move to is drawn green; one it cannot, red, with each blocker and its
remedy listed under the map; datastores and port groups a blocker names are red too.
"""

from __future__ import annotations

from html import escape

GREEN, RED, GREY, BLUE = "#2e7d32", "#c62828", "#546e7a", "#1565c0"
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
.ok { color: #2e7d32; } .blocked { color: #c62828; }
li.blocker { color: #c62828; margin-bottom: .4em; } .fix { color: #333; display: block; }
svg text { font-size: 12px; font-family: sans-serif; }
"""


def _box(x, y, w, h, label, color, kind) -> str:
    return (f'<g class="node {kind}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="white" '
            f'stroke="{color}" stroke-width="2"/><text x="{x + w / 2}" y="{y + h / 2 + 4}" text-anchor="middle" '
            f'fill="{color}">{escape(label[:28])}</text></g>')


def _line(x1, y1, x2, y2, color, dashed=False) -> str:
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2"{dash}/>'


def vm_map(vm: dict, moves: list[dict]) -> str:
    """The SVG and blocker list of one VM."""
    datastores = sorted(set(vm.get("datastores") or []) | {d["datastore"] for d in vm.get("devices") or []
                                                            if d.get("datastore")})
    networks = sorted(vm.get("networks") or [])
    red_things = {b["what"] for m in moves for b in m["blockers"]}
    targets = moves
    width, box_w, box_h = 900, 180, 34
    rows = max(len(targets), 1)
    height = max(rows * 50 + 40, 160) + 110
    parts = []
    vm_x, vm_y = 360, 40 + (rows * 50) / 2 - box_h / 2
    src_x, src_y = 40, vm_y
    parts.append(_line(src_x + box_w, src_y + box_h / 2, vm_x, vm_y + box_h / 2, BLUE))
    parts.append(_box(src_x, src_y, box_w, box_h, f"{vm.get('host') or '?'} (now)", BLUE, "host current"))
    for i, move in enumerate(targets):
        y = 40 + i * 50
        color = GREEN if move["can_move"] else RED
        parts.append(_line(vm_x + box_w, vm_y + box_h / 2, 680, y + box_h / 2, color, dashed=not move["can_move"]))
        label = f"{move['to']} {'ok' if move['can_move'] else '✗ ' + str(len(move['blockers']))}"
        parts.append(_box(680, y, box_w, box_h, label, color, "host target " + ("ok" if move["can_move"] else "blocked")))
    parts.append(_box(vm_x, vm_y, box_w, box_h, f"VM {vm['name']}", "#222", "vm"))
    bottom = height - 70
    things = [("datastore", d) for d in datastores] + [("portgroup", n) for n in networks]
    step = width / max(len(things), 1)
    for i, (kind, name) in enumerate(things):
        x = i * step + (step - 150) / 2
        color = RED if name in red_things else GREY
        parts.append(_line(vm_x + box_w / 2, vm_y + box_h, x + 75, bottom, color))
        parts.append(_box(x, bottom, 150, box_h, ("DS " if kind == "datastore" else "PG ") + name, color, kind))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>')
    items = []
    for move in moves:
        if move["can_move"]:
            items.append(f'<li class="ok">{escape(move["to"])}: can move</li>')
            continue
        for b in move["blockers"]:
            items.append(f'<li class="blocker">{escape(move["to"])}: {escape(b["check"])}: {escape(b["detail"])}'
                         f'<span class="fix">Fix: {escape(b["remedy"])}</span></li>')
    return f'<section class="map"><h2>{escape(vm["name"])}</h2>{svg}<ul>{"".join(items)}</ul></section>'


def render(document: dict, vms: list[dict]) -> str:
    by_vm: dict[str, list[dict]] = {}
    for move in document["moves"]:
        by_vm.setdefault(move["vm"], []).append(move)
    blocked = sum(1 for m in document["moves"] if not m["can_move"])
    sections = "".join(vm_map(vm, by_vm.get(vm["name"], [])) for vm in vms)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vMotion map</title>"
            f"<style>{STYLE}</style></head><body><h1>vMotion map: {len(vms)} VMs, "
            f"{len(document['hosts'])} hosts, <span class=\"{'blocked' if blocked else 'ok'}\">{blocked} moves "
            f"blocked</span></h1>{sections}</body></html>\n")
