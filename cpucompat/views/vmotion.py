"""``vsphere vmotion check``: the JSON document, the text matrix and the vMotion map (HTML).

The map is the seed's vMotion "Maps" picture as one self-contained page (inline SVG, no script,
no network; ``views/html.py``). One map per VM: the VM, its current host, every target host,
the datastores and port groups it uses. A target it can move to is drawn green; one it cannot,
red, with each blocker and its remedy listed under the map; datastores and port groups a
blocker names are red too.
"""

from __future__ import annotations

from . import html
from .console import counted, items, say, styled, verdict
from .lines import folded_table, say_wrapped, section

GREEN, RED, GREY, BLUE = "#2e7d32", "#c62828", "#546e7a", "#1565c0"
MAP_STYLE = """
.ok { color: #2e7d32; } .blocked { color: #c62828; }
li.blocker { color: #c62828; margin-bottom: .4em; } .fix { color: #333; display: block; }
"""


def blocker_json(blocker) -> dict:
    return {"check": blocker.check, "what": blocker.what, "detail": blocker.detail, "remedy": blocker.remedy}


def move_json(move) -> dict:
    return {"vm": move.vm, "from": move.source, "to": move.target, "can_move": move.can_move,
            "blockers": [blocker_json(b) for b in move.blockers], "notes": move.notes}


def vmotion_document(vms: list[dict], targets: list[dict], moves: list) -> dict:
    """The ``--json`` document: the VMs and target hosts by name, and every move."""
    return {"vms": [v["name"] for v in vms], "hosts": [t["name"] for t in targets],
            "moves": [move_json(m) for m in moves]}


def _cell(move: dict | None) -> tuple[str, str]:
    if move is None:
        return ("(here)", "dim")
    return ("ok", "ok") if move["can_move"] else (f"NO({len(move['blockers'])})", "bad")


def print_moves(document: dict) -> None:
    """Summary first, then the VM x host matrix, then each blocker with what to change."""
    moves = document["moves"]
    blocked = [m for m in moves if not m["can_move"]]
    vms = {m["vm"] for m in blocked}
    if blocked:
        say_wrapped(verdict(False, "blocked"), f": {len(blocked)} of {len(moves)} moves; {len(vms)} of "
                    f"{len(document['vms'])} VMs cannot move to every target host")
    elif moves:
        say_wrapped(verdict(True, "ok"), f": all {len(moves)} moves can go ahead ({counted(len(document['vms']), 'VM')}, "
                    f"{counted(len(document['hosts']), 'target host')})")
    else:
        say_wrapped(verdict(True, "ok"), f": no move to check: the {counted(len(document['vms']), 'VM')} already run on "
                    f"the {counted(len(document['hosts']), 'target host')}")
    cells = {(m["vm"], m["to"]): m for m in moves}
    rows = [[vm] + [styled(*_cell(cells.get((vm, host)))) for host in document["hosts"]] for vm in document["vms"]]
    folded_table(["VM", *document["hosts"]], rows)
    same: dict[tuple, list[str]] = {}  # VMs blocked from one host for the same reasons, listed once
    for move in blocked:
        reasons = tuple((b["check"], b["detail"], b["remedy"]) for b in move["blockers"])
        same.setdefault((move["to"], reasons), []).append(move["vm"])
    for (target, reasons), vms in same.items():
        if len(vms) == 1:
            section(f"{vms[0]} -> {target}: cannot move")
        else:
            section(f"{len(vms)} VMs -> {target}: cannot move")
            say("  VMs:")
            items(vms, "    ")
        for blocker in [dict(zip(("check", "detail", "remedy"), r)) for r in reasons]:
            say_wrapped("  ", (blocker["check"], "bad"), f": {blocker['detail']}", hanging="      ")
            say_wrapped("    ", ("fix", "ok"), f": {blocker['remedy']}", hanging="      ")


def vm_map(vm: dict, moves: list[dict]) -> str:
    """The SVG and blocker list of one VM."""
    datastores = sorted(set(vm.get("datastores") or []) | {d["datastore"] for d in vm.get("devices") or []
                                                            if d.get("datastore")})
    networks = sorted(vm.get("networks") or [])
    red_things = {b["what"] for m in moves for b in m["blockers"]}
    width, box_w, box_h = 900, 180, 34
    rows = max(len(moves), 1)
    height = max(rows * 50 + 40, 160) + 110
    parts = []
    vm_x, vm_y = 360, 40 + (rows * 50) / 2 - box_h / 2
    src_x, src_y = 40, vm_y
    parts.append(html.line(src_x + box_w, src_y + box_h / 2, vm_x, vm_y + box_h / 2, BLUE))
    parts.append(html.box(src_x, src_y, box_w, box_h, f"{vm.get('host') or '?'} (now)", BLUE, "host current"))
    for i, move in enumerate(moves):
        y = 40 + i * 50
        color = GREEN if move["can_move"] else RED
        parts.append(html.line(vm_x + box_w, vm_y + box_h / 2, 680, y + box_h / 2, color, dashed=not move["can_move"]))
        label = f"{move['to']} {'ok' if move['can_move'] else '✗ ' + str(len(move['blockers']))}"
        parts.append(html.box(680, y, box_w, box_h, label, color, "host target " + ("ok" if move["can_move"] else "blocked")))
    parts.append(html.box(vm_x, vm_y, box_w, box_h, f"VM {vm['name']}", "#222", "vm"))
    bottom = height - 70
    things = [("datastore", d) for d in datastores] + [("portgroup", n) for n in networks]
    step = width / max(len(things), 1)
    for i, (kind, name) in enumerate(things):
        x = i * step + (step - 150) / 2
        color = RED if name in red_things else GREY
        parts.append(html.line(vm_x + box_w / 2, vm_y + box_h, x + 75, bottom, color))
        parts.append(html.box(x, bottom, 150, box_h, ("DS " if kind == "datastore" else "PG ") + name, color, kind))
    items = []
    for move in moves:
        if move["can_move"]:
            items.append(f'<li class="ok">{html.text(move["to"])}: can move</li>')
            continue
        for b in move["blockers"]:
            items.append(f'<li class="blocker">{html.text(move["to"])}: {html.text(b["check"])}: '
                         f'{html.text(b["detail"])}<span class="fix">Fix: {html.text(b["remedy"])}</span></li>')
    return (f'<section class="map"><h2>{html.text(vm["name"])}</h2>{html.svg(width, height, parts)}'
            f'<ul>{"".join(items)}</ul></section>')


def vmotion_map(document: dict, vms: list[dict]) -> str:
    """The whole page: a heading with the counts, then one map per VM."""
    by_vm: dict[str, list[dict]] = {}
    for move in document["moves"]:
        by_vm.setdefault(move["vm"], []).append(move)
    blocked = sum(1 for m in document["moves"] if not m["can_move"])
    sections = "".join(vm_map(vm, by_vm.get(vm["name"], [])) for vm in vms)
    heading = (f"<h1>vMotion map: {len(vms)} VMs, {len(document['hosts'])} hosts, "
               f"<span class=\"{'blocked' if blocked else 'ok'}\">{blocked} moves blocked</span></h1>")
    return html.page("vMotion map", heading + sections, MAP_STYLE)
