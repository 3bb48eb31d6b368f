"""views/html.py: the one HTML rendering module (the vMotion map uses it; the fleet report will)."""

from __future__ import annotations

from html.parser import HTMLParser

from cpucompat.views import html
from cpucompat.views.vmotion import vmotion_map


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.data = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.data.append(data)


def _parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    return parser


def test_input_text_cannot_add_markup_or_controls():
    hostile = '<script>alert(1)</script>\n"x" & \x1b[2J'
    cell = html.text(hostile)
    assert "<" not in cell and "\n" not in cell and "\x1b" not in cell
    assert html.attr('a"b') == "a&quot;b"
    page = html.page(hostile, html.table(["host"], [[hostile]]) + html.svg(10, 10, [html.box(0, 0, 5, 5, hostile, "red", "k")]))
    parsed = _parse(page)
    assert "script" not in parsed.tags and {"table", "svg", "rect", "title"} <= set(parsed.tags)
    assert '<script>alert(1)</script>\\x0a"x" & \\x1b[2J' in parsed.data


def test_page_is_self_contained():
    page = html.page("t", html.svg(10, 10, [html.line(0, 0, 1, 1, "#000", dashed=True)]))
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_vmotion_map_uses_the_page_shell():
    document = {"hosts": ["esx1"], "moves": [
        {"vm": "vm<1>", "from": "esx0", "to": "esx1", "can_move": False, "notes": [],
         "blockers": [{"check": "cpu", "what": "esx1", "detail": "lacks avx512f", "remedy": "Enable EVC"}]}]}
    page = vmotion_map(document, [{"name": "vm<1>", "host": "esx0", "datastores": ["ds1"], "networks": ["pg"]}])
    assert page.startswith("<!DOCTYPE html>") and "vm&lt;1&gt;" in page and "vm<1>" not in page
    assert 'class="blocker"' in page and "Fix: Enable EVC" in page and 'stroke="#c62828"' in page
