"""Text helpers every command's terminal output shares: scalars as people read them, wrapped word lists.

Each command's own JSON document and text layout live side by side in ``views/<command>.py``."""

from __future__ import annotations

import textwrap

from .. import levels


def scalar_text(name: str, value: object) -> str:
    """One scalar as text: a levelled field as ``levels`` shows it (leaves in hex, XSAVE sets
    named), the hypervisor leaf in hex, everything else as it is."""
    field = levels.by_name().get(name)
    if field and field.is_set and isinstance(value, str) and value.startswith("0x"):
        value = int(value, 16)  # the JSON documents hold the sets as hex strings
    if isinstance(value, int) and not isinstance(value, bool):
        if field:
            return field.text(value)
        if name == "max_hypervisor_leaf":
            return f"{value:#x}"
    return _field_text(value)


def _field_text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):  # xsave components
            return ", ".join(f"{c['name']}({c['size']})" if c.get("size") else c["name"] for c in value)
        return " ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def wrap(words: str | list[str], indent: str = "  ", hanging: str = "", width: int = 100) -> str:
    """Words (or one text) filled to ``width`` columns, every line indented (continuations by ``indent +
    hanging``); a feature name is never broken at a hyphen; an empty list reads ``-``."""
    text = words if isinstance(words, str) else " ".join(words) or "-"
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + hanging,
                         break_on_hyphens=False)
