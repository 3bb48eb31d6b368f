"""HTML output: one small rendering module for every page cpucompat writes (the vMotion map and
the fleet report).

A page is self-contained: inline CSS and SVG, no script, nothing fetched. Every text from an
input goes through ``text`` (HTML-escaped, control characters shown as ``\\x0a``), every
attribute value through ``attr``; ``tag`` builds any element from content that is already HTML
and keyword attributes (``class_`` for ``class``, ``data_key`` for ``data-key``).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from ..text import printable

BASE_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: left; }
svg text { font-size: 12px; font-family: sans-serif; }
"""


def text(value: object) -> str:
    """Input text as HTML element content: escaped, control characters made visible."""
    return escape(printable(str(value)))


def attr(value: object) -> str:
    """A value for a double-quoted attribute."""
    return escape(printable(str(value)), quote=True)


def page(title: str, body: str, style: str = "") -> str:
    """The page shell: doctype, charset, title, the base style plus ``style``, then ``body``
    (already HTML)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{text(title)}</title>'
            f"<style>{BASE_STYLE}{style}</style></head><body>{body}</body></html>\n")


def svg(width: float, height: float, parts: Iterable[str]) -> str:
    """An inline SVG picture of the given size from SVG fragments (``box``, ``line``)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>')


def box(x: float, y: float, w: float, h: float, label: str, color: str, kind: str, limit: int = 28) -> str:
    """A rounded box with a centred label (cut to ``limit`` characters), classed ``node KIND``."""
    return (f'<g class="node {attr(kind)}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="white" '
            f'stroke="{attr(color)}" stroke-width="2"/><text x="{x + w / 2}" y="{y + h / 2 + 4}" '
            f'text-anchor="middle" fill="{attr(color)}">{text(label[:limit])}</text></g>')


def line(x1: float, y1: float, x2: float, y2: float, color: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{attr(color)}" stroke-width="2"{dash}/>'


def table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A plain table; every cell is input text (escaped)."""
    return grid(headers, ("<tr>" + "".join(f"<td>{text(cell)}</td>" for cell in row) + "</tr>" for row in rows))


def attrs(**values: object) -> str:
    """Attributes, escaped: ``class_`` is ``class``, underscores become dashes (``data_key``);
    None and False are left out, True is a bare attribute."""
    out = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        out.append(f" {name}" if value is True else f' {name}="{attr(value)}"')
    return "".join(out)


def tag(name: str, body: str = "", **values: object) -> str:
    """One element; ``body`` is already HTML (pass input text through ``text``)."""
    return f"<{name}{attrs(**values)}>{body}</{name}>"


def details(summary: str, body: str, **values: object) -> str:
    """A collapsed block (no script needed): ``summary`` and ``body`` are already HTML."""
    return tag("details", tag("summary", summary) + body, **values)


def grid(headers: Iterable[str], rows: Iterable[str], **values: object) -> str:
    """A table of rows already rendered (``tag("tr", ...)``) under plain-text headers."""
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    return tag("table", f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>", **values)
