"""``collect --nfd FILE``: a Node Feature Discovery local feature file with cpucompat's labels.

NFD's worker reads every file in ``/etc/kubernetes/node-feature-discovery/features.d/`` (the
``local`` feature source): one ``name=value`` per line, ``#`` comment lines, a name without a
namespace going under ``feature.node.kubernetes.io/``. Ours are all under ``cpucompat.io/``:

- ``cpucompat.io/evc-mode``, ``psabi-level``, ``qemu-model``: the highest EVC mode, psABI level
  and QEMU model the host satisfies (left out when there is none), ``cpucompat.io/class``: its
  compatibility class (``cpucompat fleet``'s class id);
- ``cpucompat.io/evc.<mode>``, ``psabi.<level>``, ``qemu.<model>`` = ``true`` for *every* mode,
  level and model the host satisfies, so a node selector can ask for "at least" one: the
  ``kubevirt`` mask names ``cpucompat.io/qemu.<model>`` for the model it starts the VM from.

Every label is checked against Kubernetes' label syntax (``valid_label``) before it is written.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .summary import HostSummary

PREFIX = "cpucompat.io/"
#: Where NFD's local source reads feature files.
FEATURES_D = "/etc/kubernetes/node-feature-discovery/features.d/"
#: summary kind -> label segment of the per-baseline labels.
KINDS = {"evc": "evc", "psabi": "psabi", "qemu": "qemu"}

# Kubernetes apimachinery validation: qualified name = [DNS-1123 subdomain "/"] name (<= 63),
# label value = "" or the same shape as a name (<= 63).
_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*\Z")


def valid_label(name: str, value: str) -> bool:
    """True when ``name=value`` is a valid Kubernetes label (qualified name and value)."""
    prefix, slash, local = name.rpartition("/")
    if slash and not (len(prefix) <= 253 and _SUBDOMAIN.match(prefix)):
        return False
    if not (0 < len(local) <= 63 and _NAME.match(local)):
        return False
    return value == "" or (len(value) <= 63 and bool(_NAME.match(value)))


def model_label(key: str) -> str:
    """The label a node carries when it can run QEMU model ``key`` (``cpucompat.io/qemu.<key>``)."""
    return f"{PREFIX}qemu.{key}"


def labels(summary: HostSummary) -> tuple[dict[str, str], list[str]]:
    """The host's labels, and what was left out because Kubernetes would refuse it."""
    wanted: dict[str, str] = {}
    for name, value in (("evc-mode", summary.evc_mode), ("psabi-level", summary.psabi_level),
                        ("qemu-model", summary.qemu_model), ("class", summary.compat_class)):
        if value:
            wanted[PREFIX + name] = value
    for kind, segment in KINDS.items():
        for key in summary.satisfied.get(kind, []):
            wanted[f"{PREFIX}{segment}.{key}"] = "true"
    good = {n: v for n, v in wanted.items() if valid_label(n, v)}
    return good, [f"{n}={v}" for n, v in wanted.items() if n not in good]


def render(summary: HostSummary) -> tuple[str, list[str]]:
    """The feature file's text, and the labels left out."""
    good, left_out = labels(summary)
    lines = [f"# cpucompat collect --nfd: CPU labels of {_comment(summary.hostname)} "
             f"(fingerprint {summary.content_hash})",
             f"# NFD local feature file; install in {FEATURES_D}"]
    lines += [f"{name}={value}" for name, value in good.items()]
    return "\n".join(lines) + "\n", left_out


def _comment(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)
