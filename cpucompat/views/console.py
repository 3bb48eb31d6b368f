"""Terminal output through rich: one stdout console (colour only on a terminal, ``NO_COLOR``
respected, ``FORCE_COLOR`` too, 100 columns when piped so text output is stable), and the few
pieces every command's text layout shares: a verdict word, a heading, a table, a list one item
per line, wrapped words, features grouped as people read them (groups from ``data/features.csv``'s
kind, families from ``data/feature-families.csv``), label/value columns, shell commands that
paste whole, and the ``next_steps`` of a JSON document.

Input text (host names, brand strings, paths) never goes through rich markup: it is put in
``rich.text.Text`` objects after ``text.printable``, so ``[bold]`` in a host name stays literal.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from functools import cache

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
    forced = bool(os.environ.get("FORCE_COLOR")) and "NO_COLOR" not in os.environ  # `... | less -R`
    # rich gives a dumb TERM (CI, chroots) no colour and 80 columns: FORCE_COLOR wins over it
    dumb = os.environ.get("TERM", "").lower() in ("dumb", "unknown")
    return Console(file=sys.stdout, highlight=False, emoji=False, soft_wrap=False,
                   width=None if terminal else PIPE_WIDTH,
                   no_color="NO_COLOR" in os.environ or None,
                   force_terminal=True if forced else None if terminal else False,
                   _environ={k: v for k, v in os.environ.items() if k != "TERM"} if forced and dumb else None)


def styled(value: object, style: str = "") -> Text:
    """Input text as a rich ``Text`` (printable, never markup) in one of ``STYLES``."""
    return Text(printable(str(value)), style=STYLES.get(style, style))


def parts_text(*parts: object) -> Text:
    """Parts (plain values, or ``(value, style)`` pairs) as one ``Text``."""
    line = Text()
    for part in parts:
        line.append_text(styled(*part) if isinstance(part, tuple) else styled(part))
    return line


def say(*parts: object) -> None:
    """One line from parts: plain values, or ``(value, style)`` pairs."""
    console().print(parts_text(*parts))


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
    if console().is_terminal:
        console().print(grid)
        return
    with console().capture() as captured:  # piped: the same lines without rich's trailing padding
        console().print(grid)
    for line in captured.get().splitlines():
        console().print(Text.from_ansi(line.rstrip()), overflow="ignore", crop=False)


def grouped(names: Iterable[str]) -> dict[str, list[str]]:
    """Canonical feature names grouped as ``FEATURE_GROUPS`` orders them (empty groups left out),
    each group sorted: a set gives the same lists in every process."""
    from ..knowledge.features import feature_table

    by_name = feature_table().by_name
    groups: dict[str, list[str]] = {group: [] for group in dict.fromkeys(FEATURE_GROUPS.values())}
    for name in sorted(names):
        feature = by_name.get(name)
        groups[FEATURE_GROUPS.get(feature.kind, "information") if feature else "information"].append(name)
    return {group: members for group, members in groups.items() if members}


# --- feature families, counted groups, names in a vocabulary, next steps -------------------

#: A group's members counted as a noun (singular, plural).
GROUP_NOUNS = {"instructions": ("instruction", "instructions"), "security": ("security feature", "security features"),
               "virtualization": ("virtualization feature", "virtualization features"),
               "information": ("information bit", "information bits")}
#: Families a summary names per group before "...".
SUMMARY_FAMILIES = 3
#: Marks a feature shown by its canonical name because the asked vocabulary has none for it.
NO_NAME_MARK = "*"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``1 host``, ``3 hosts``, ``1,024 hosts``."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


@cache
def family_of() -> dict[str, str]:
    """Canonical feature name -> its family's label (``data/feature-families.csv``; first match wins)."""
    from fnmatch import fnmatchcase

    from ..knowledge.features import feature_table
    from ..knowledge.tables import rows

    families = [(row["label"], row["patterns"].split()) for row in rows("feature-families.csv")]
    found = {}
    for feature in feature_table().features:
        label = next((label for label, patterns in families if any(fnmatchcase(feature.name, p) for p in patterns)), None)
        if label:
            found[feature.name] = label
    return found


def by_family(names: Iterable[str]) -> dict[str, list[str]]:
    """Canonical names by family label, in the families' file order, ``other`` (no family) last."""
    from ..knowledge.tables import rows

    families: dict[str, list[str]] = {row["label"]: [] for row in rows("feature-families.csv")}
    families["other"] = []
    for name in sorted(names):
        families[family_of().get(name, "other")].append(name)
    return {label: members for label, members in families.items() if members}


def group_summary(names: Iterable[str], what: str = "missing") -> list[str]:
    """One phrase per feature group: ``43 instructions missing (AVX-512 family, AMX, TSX, ...)``;
    the first phrase carries ``what``."""
    phrases = []
    for group, members in grouped(names).items():
        phrase = counted(len(members), *GROUP_NOUNS[group]) + (f" {what}" if what and not phrases else "")
        labels = list(by_family(members))
        families = [label for label in labels if label != "other"]
        if families:
            more = len(families) > SUMMARY_FAMILIES or "other" in labels
            phrase += f" ({', '.join(families[:SUMMARY_FAMILIES])}{', ...' if more else ''})"
        phrases.append(phrase)
    return phrases


def feature_name(name: str, vocabulary: str) -> str:
    """A canonical feature in a vocabulary; its canonical name marked ``*`` where that vocabulary has none."""
    from ..knowledge.features import feature_table

    feature = feature_table().by_name.get(name)
    shown = feature.name_in(vocabulary) if feature else ""
    return shown or name + NO_NAME_MARK


def feature_groups(names: Iterable[str], vocabulary: str, indent: int = 2) -> None:
    """Features grouped as people read them, each once, in ``vocabulary``: a heading per group,
    a row per family, the names wrapped to the console's width."""
    unnamed = False
    for group, members in grouped(names).items():
        console().print(Text(" " * indent) + styled(f"{group} ({len(members)}):", "head"))
        rows = []
        for label, family in by_family(members).items():
            shown = sorted(feature_name(n, vocabulary) for n in family)
            unnamed |= any(s.endswith(NO_NAME_MARK) for s in shown)
            rows.append((label, " ".join(shown)))
        two_columns(rows, indent + 2)
    if unnamed:
        console().print(Text(" " * indent) + styled(f"{NO_NAME_MARK} no {vocabulary} name: cpucompat's own", "dim"))


def two_columns(rows: Iterable[tuple[object, object]], indent: int = 2) -> None:
    """Label and value rows; values wrapped at spaces to the console's width under their column."""
    from .text import wrap

    rows = [(printable(str(label)), printable(str(value))) for label, value in rows]
    column = max((len(label) for label, _ in rows), default=0) + 2
    for label, value in rows:
        body = wrap(value or "-", " " * (indent + column), width=console().width).lstrip(" ")
        line = Text(" " * indent) + styled(label, "name") + Text(" " * (column - len(label)) + body)
        console().print(line, overflow="ignore", crop=False)


def hanging(text: object, indent: int = 2, first: str = "- ") -> None:
    """One sentence wrapped to the console's width, continuation lines under its first word."""
    from .text import wrap

    body = wrap(printable(str(text)), " " * (indent + len(first)), width=console().width).lstrip(" ")
    console().print(Text(" " * indent + first + body), overflow="ignore", crop=False)


def command(line: str, indent: int = 4) -> None:
    """A shell command, split at arguments with ``\\`` continuations so it pastes whole."""
    width, out, current = console().width - indent - 2, [], ""
    for arg in _arguments(shlex.split(line)):
        if current and len(current) + 1 + len(arg) > width:
            out.append(current)
            current = "    " + arg
        else:
            current = f"{current} {arg}" if current else arg
    out.append(current)
    for number, part in enumerate(out):
        end = " \\" if number < len(out) - 1 else ""
        console().print(Text(" " * indent) + styled(part + end, "name"), overflow="ignore", crop=False)


def _arguments(argv: list[str]) -> list[str]:
    """Quoted arguments, an option kept with its value (``--target host.json``)."""
    pieces: list[str] = []
    for arg in argv:
        if pieces and pieces[-1].startswith("--") and " " not in pieces[-1] and not arg.startswith("-"):
            pieces[-1] += " " + shlex.quote(arg)
        else:
            pieces.append(shlex.quote(arg))
    return pieces


def verdict_line(label: object, ok: bool, word: str, rest: str = "", indent: int = 0) -> None:
    """``LABEL: WORD REST`` wrapped to the console's width (continuations indented 4 more), the
    verdict word green or red."""
    from .text import wrap

    label = printable(str(label))
    wrapped = wrap(f"{label}: {word}{printable(rest)}", " " * indent, "    ", width=console().width)
    line = Text(wrapped)
    start = wrapped.find(f": {word}", max(0, indent + len(label) - 1)) + 2
    line.stylize(STYLES["ok" if ok else "bad"], start, start + len(word))
    console().print(line, overflow="ignore", crop=False)


def next_steps(steps: Iterable[dict], indent: int = 2) -> None:
    """The ``next_steps`` of a JSON document: each sentence, its hosts one per line, its command."""
    steps = list(steps)
    if not steps:
        return
    console().print(Text(" " * indent) + styled("next step:" if len(steps) == 1 else "next steps:", "head"))
    for step in steps:
        hanging(step["text"], indent + 2)
        if step["action"] == "leave-out":
            items(step["hosts"], " " * (indent + 4))
        if step.get("command"):
            command(step["command"], indent + 4)
