"""Text from inputs made safe to show: one line, no terminal control, encodable.

Host names (a fingerprint's ``hostname``, a file name), vendor and brand strings (CPUID
registers) come from inputs. Written raw, a newline would start a live line in a mask file
(``vm\\nmonitor_control.restrict_backdoor = "FALSE"`` in a .vmx comment), ESC or BEL would
drive the terminal, and a lone surrogate (an undecodable file-name byte) would not even encode
as UTF-8. ``printable`` escapes all of them, Python-style (``\\n`` -> ``\\x0a``).
"""

from __future__ import annotations

import re

#: C0/C1 controls, DEL, line/paragraph separators, bidi and zero-width format characters,
#: the BOM, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, line-breaking, format or surrogate character escaped."""
    return _UNSAFE.sub(_escape, text)


def printable_tree(value):
    """``value`` (a JSON-like document) with ``printable`` applied to every string in it."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_tree(k): printable_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_tree(v) for v in value]
    return value
