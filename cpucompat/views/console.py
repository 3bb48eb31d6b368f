"""Terminal output through rich: one stdout console (colour only on a terminal, ``NO_COLOR``
respected, 100 columns when piped so text output is stable), and the few pieces every command's
text layout shares: a verdict word, a heading, a table, a list one item per line, wrapped words,
features grouped as people read them.

Input text (host names, brand strings, paths) never goes through rich markup: it is put in
``rich.text.Text`` objects after ``text.printable``, so ``[bold]`` in a host name stays literal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..text import printable

#: Width of text output when stdout is not a terminal (pipes, files, snapshot tests).
PIPE_WIDTH = 100

#: Feature kinds (data/features.csv ``kind``) as the groups text output shows, in this order.
FEATURE_GROUPS = {"isa": "instructions", "security": "security", "virt": "virtualization",
                  "info": "information", "os": "information"}

STYLES = {"ok": "bold green", "bad": "bold red", "warn": "yellow", "head": "bold", "dim": "dim",
          "name": "cyan"}


_console: Console | None = None


def console() -> Console:
    """The console on the current ``sys.stdout`` (made anew when stdout is replaced, as tests do)."""
    global _console
    if _console is None or _console.file is not sys.stdout:
        _console = _make_console()
    return _console


def _make_console() -> Console:
    terminal = sys.stdout.isatty()
    return Console(file=sys.stdout, highlight=False, emoji=False, soft_wrap=False,
                   width=None if terminal else PIPE_WIDTH,
                   no_color="NO_COLOR" in os.environ or None,
                   force_terminal=None if terminal else False)


def styled(value: object, style: str = "") -> Text:
    """Input text as a rich ``Text`` (printable, never markup) in one of ``STYLES``."""
    return Text(printable(str(value)), style=STYLES.get(style, style))


def say(*parts: object) -> None:
    """One line from parts: plain values, or ``(value, style)`` pairs."""
    line = Text()
    for part in parts:
        line.append_text(styled(*part) if isinstance(part, tuple) else styled(part))
    console().print(line)


def verdict(ok: bool, word: str | None = None) -> tuple[str, str]:
    """A verdict word as a ``say`` part: green when ``ok``, red otherwise."""
    return (word or ("compatible" if ok else "incompatible"), "ok" if ok else "bad")


def heading(title: object) -> None:
    console().print(styled(title, "head"))


def items(values: Iterable[object], indent: str = "  ") -> None:
    """A list one item per line (host names, paths): never run together on one long line."""
    for value in values:
        console().print(Text(indent) + styled(value))


def words(values: Iterable[object] | str, indent: str = "  ") -> None:
    """Words filled to the console's width, every line indented; a name is never broken at a
    hyphen; an empty list reads ``-``."""
    from .text import wrap

    width = console().width
    text = values if isinstance(values, str) else " ".join(printable(str(v)) for v in values) or "-"
    console().print(Text(wrap(text, indent, width=width)), overflow="ignore", crop=False)


def table(headers: Iterable[str], rows: Iterable[Iterable[object]], title: str | None = None) -> None:
    """A plain table (no box lines when piped); every cell is input text."""
    grid = Table(*headers, title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 header_style=STYLES["head"], title_justify="left")
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else styled(cell) for cell in row))
    console().print(grid)


def grouped(names: Iterable[str]) -> dict[str, list[str]]:
    """Canonical feature names grouped as ``FEATURE_GROUPS`` orders them (empty groups left out)."""
    from ..knowledge.features import feature_table

    by_name = feature_table().by_name
    groups: dict[str, list[str]] = {group: [] for group in dict.fromkeys(FEATURE_GROUPS.values())}
    for name in names:
        feature = by_name.get(name)
        groups[FEATURE_GROUPS.get(feature.kind, "information") if feature else "information"].append(name)
    return {group: members for group, members in groups.items() if members}
