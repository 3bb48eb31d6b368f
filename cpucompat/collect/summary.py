"""One host's summary for schedulers and monitoring: the names its fingerprint earns.

What ``collect --nfd``, ``collect --prometheus`` and the Ansible module's facts report: vendor,
family/model, feature count, the highest EVC mode, psABI level and QEMU model the host
satisfies (each judged as ``cpucompat baseline`` judges a one-host cluster), every mode, level
and model it satisfies (for node selectors: a node with a higher EVC mode also offers the lower
ones), its compatibility class (the id ``cpucompat fleet`` gives hosts with the same
guest-visible features) and the BIOS findings. Off the collect fast path: imported only when
one of those outputs is asked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..cluster import Policy, cluster_baseline, esxi_view
from ..decode import Decoded, decode
from ..formats import fingerprint as fingerprint_format
from ..knowledge import baselines
from ..knowledge.features import feature_table


@dataclass
class HostSummary:
    hostname: str
    vendor: str
    family: int | None
    model: int | None
    stepping: int | None
    brand: str
    feature_count: int
    guest_visible_count: int
    evc_mode: str | None
    psabi_level: str | None
    qemu_model: str | None
    compat_class: str
    content_hash: str
    findings: list[dict] = field(default_factory=list)
    #: kind -> keys of every baseline of that kind the host satisfies (lowest level first).
    satisfied: dict[str, list[str]] = field(default_factory=dict)

    def facts(self) -> dict:
        """JSON-ready, as the Ansible module returns it."""
        return {
            "hostname": self.hostname, "vendor": self.vendor, "family": self.family, "model": self.model,
            "stepping": self.stepping, "brand": self.brand, "feature_count": self.feature_count,
            "guest_visible_count": self.guest_visible_count, "evc_mode": self.evc_mode,
            "psabi_level": self.psabi_level, "qemu_model": self.qemu_model, "class": self.compat_class,
            "content_hash": self.content_hash,
            "findings": [f["id"] for f in self.findings if f.get("status") == "found"],
        }


def class_id(features) -> str:
    """The fleet class id of a guest-visible feature set (``fleet.analysis.class_id`` without numpy)."""
    text = ",".join(sorted(features))
    return "fs-" + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def _satisfied(kind: str, present: frozenset[str], vendor: str) -> list[str]:
    found = [b for b in baselines.load_baselines(kind) if b.fits_vendor(vendor) and b.required <= present]
    return [b.key for b in sorted(found, key=lambda b: (b.level, b.key))]


def summarize(document: dict) -> HostSummary:
    """The summary of one fingerprint v1 document."""
    host = (document.get("host") or {}).get("hostname") or "<this host>"
    decoded = decode(fingerprint_format.parse(json.dumps(document), host))
    return summarize_decoded(decoded, host, document.get("content_hash", ""))


def summarize_decoded(decoded: Decoded, host: str, content_hash: str = "") -> HostSummary:
    """The summary of one decoded host (any input ``decode`` reads)."""
    policy = Policy()
    baseline = cluster_baseline([decoded], policy)
    table = feature_table()
    visible = frozenset(n for n in decoded.features if table.guest_visible(n))
    present = baseline.features | policy.never_blocking()

    def key(kind: str) -> str | None:
        found = baseline.named.get(kind)
        return found.key if found else None

    satisfied = {kind: _satisfied(kind, present, decoded.vendor) for kind in ("psabi", "qemu")}
    satisfied["evc"] = _satisfied("evc", esxi_view(decoded.features), decoded.vendor)
    return HostSummary(
        hostname=host, vendor=decoded.vendor, family=decoded.family, model=decoded.model,
        stepping=decoded.stepping, brand=decoded.brand, feature_count=len(decoded.features),
        guest_visible_count=len(visible), evc_mode=key("evc"), psabi_level=key("psabi"),
        qemu_model=key("qemu"), compat_class=class_id(visible),
        content_hash=content_hash, findings=list(decoded.findings), satisfied=satisfied,
    )
