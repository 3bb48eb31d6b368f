"""Text pieces the ``fleet``, ``diff``, ``collect --check`` and ``vmotion check`` layouts share beyond
``views/console.py``: a long line wrapped under a hanging indent, a line never wrapped (commands,
paths), a section heading, a table cell of names one per line, tables that never cut a name
short, a document's feature names back to canonical ones."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.table import Column
from rich.text import Text

from .console import console, heading, parts_text, say, styled, table


def say_wrapped(*parts: object, hanging: str = "    ") -> None:
    """One logical line filled to the console's width at spaces (a name is never broken, not even
    at a hyphen); continuation lines start with ``hanging``. Styles survive the wrapping."""
    out = console()
    text = parts_text(*parts)
    plain = text.plain
    pieces = textwrap.wrap(plain, width=out.width, subsequent_indent=hanging, break_long_words=False,
                           break_on_hyphens=False) or [""]
    starts, cursor = [], 0
    for n, piece in enumerate(pieces):
        piece = piece[len(hanging):] if n else piece
        cursor = plain.index(piece, cursor) if n else 0
        starts.append(cursor)
    for n, line in enumerate(text.divide(starts[1:])):
        line.rstrip()
        out.print(line if n == 0 else Text(hanging) + line, overflow="ignore", crop=False, soft_wrap=True)


def section(title: str) -> None:
    """A blank line and a heading."""
    say()
    heading(title)


def one_per_line(names: Sequence[object], count: int | None = None, most: int = 3) -> Text:
    """Names one per line (a table cell): the first ``most``, then how many more of ``count``."""
    count = len(names) if count is None else count
    shown = [styled(n) for n in list(names)[:most]]
    if count > len(shown):
        shown.append(styled(f"+{count - len(shown):,} more", "dim"))
    return Text("\n").join(shown) if shown else Text("-")


def folded(header: str, max_width: int | None = None) -> Column:
    """A table column whose long words are folded onto the next line, never cut short: names
    (classes, hosts, features) always show whole."""
    return Column(header, overflow="fold", max_width=max_width)


def folded_table(headers: Sequence[str | Column], rows) -> None:
    """``console.table`` with every column ``folded``: no cell is ever cut short."""
    table([folded(h) if isinstance(h, str) else h for h in headers], rows)


def canonical(names: Sequence[str], vocabulary: str = "canonical") -> list[str]:
    """Feature names of a vocabulary (a document's ``--names``) as canonical names, for
    ``console.feature_groups`` and ``console.by_family``; a name the table lacks is kept."""
    if vocabulary == "canonical":
        return list(names)
    from ..knowledge.features import feature_table

    back = {f.name_in(vocabulary): f.name for f in feature_table().features}
    return [back.get(name, name) for name in names]


def say_whole(*parts: object) -> None:
    """One line never wrapped nor cropped (a path): a terminal folds it, a pipe gets it whole."""
    console().print(parts_text(*parts), soft_wrap=True)
