"""``collect --prometheus FILE``: a node_exporter textfile-collector file (``*.prom``).

node_exporter's textfile collector (``--collector.textfile.directory``) exports every metric in
the folder's ``*.prom`` files with the node's own labels. The file holds:

- ``cpucompat_fingerprint_info{content_hash, vendor, family, model, stepping, evc_mode,
  psabi_level, qemu_model, class} 1``: what the host is, as labels;
- ``cpucompat_content_hash_prefix``: the first 48 bits of the content hash as a number, so
  ``changes(cpucompat_content_hash_prefix[1d]) > 0`` fires when the CPU view changed (a BIOS
  setting, microcode or kernel update);
- ``cpucompat_features{view="all"|"guest_visible"}``: the feature counts;
- ``cpucompat_evc_mode``: the highest EVC mode's level (0 for none; its name is the info
  metric's ``evc_mode`` label);
- ``cpucompat_bios_finding{finding}``: 1 found, 0 not found, -1 unknown;
- ``cpucompat_evc_mode`` and ``cpucompat_bios_finding`` carry no label that changes with their
  value: PromQL's ``delta`` and ``changes`` compare samples of one series, and a new label value
  would start a new series instead of moving the old one;
- ``cpucompat_collect_timestamp_seconds``: when the fingerprint was taken.

Written atomically (temporary file and rename), so node_exporter never reads half a file.
"""

from __future__ import annotations

from datetime import datetime

from ..knowledge import baselines
from .summary import HostSummary

FINDING_VALUES = {"found": 1, "not-found": 0}


def _escape(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _metric(name: str, kind: str, help_text: str, samples) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(pairs) if pairs else ''} {value}" for pairs, value in samples]
    return lines


def _timestamp(collected_at: str | None) -> float | None:
    try:
        return datetime.fromisoformat(str(collected_at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def render(summary: HostSummary, collected_at: str | None = None) -> str:
    info = [("content_hash", summary.content_hash), ("vendor", summary.vendor), ("family", summary.family),
            ("model", summary.model), ("stepping", summary.stepping), ("evc_mode", summary.evc_mode or ""),
            ("psabi_level", summary.psabi_level or ""), ("qemu_model", summary.qemu_model or ""),
            ("class", summary.compat_class)]
    digest = summary.content_hash.partition(":")[2]
    mode = baselines.get(summary.evc_mode) if summary.evc_mode else None
    lines = _metric("cpucompat_fingerprint_info", "gauge", "The host's CPU as cpucompat names it (labels); always 1.",
                    [(info, 1)])
    if digest:
        lines += _metric("cpucompat_content_hash_prefix", "gauge",
                         "First 48 bits of the fingerprint's content hash; changes when the CPU view changes.",
                         [((), int(digest[:12], 16))])
    lines += _metric("cpucompat_features", "gauge", "Features all the host's CPUs share (all, guest-visible).",
                     [((("view", "all"),), summary.feature_count),
                      ((("view", "guest_visible"),), summary.guest_visible_count)])
    lines += _metric("cpucompat_evc_mode", "gauge", "Level of the highest VMware EVC mode the host supports "
                     "(0: none); the mode is cpucompat_fingerprint_info's evc_mode label.",
                     [((), mode.level if mode else 0)])
    findings = [((("finding", f.get("id", "")),), FINDING_VALUES.get(f.get("status"), -1)) for f in summary.findings]
    if findings:
        lines += _metric("cpucompat_bios_finding", "gauge", "BIOS findings: 1 found, 0 not found, -1 unknown.", findings)
    when = _timestamp(collected_at)
    if when is not None:
        lines += _metric("cpucompat_collect_timestamp_seconds", "gauge", "When the fingerprint was taken (Unix time).",
                         [((), f"{when:.3f}")])
    return "\n".join(lines) + "\n"
