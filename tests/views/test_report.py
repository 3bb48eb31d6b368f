"""``cpucompat report``: the page renders in headless Chromium without a console message, and the
numbers read back from the rendered DOM are ``cpucompat fleet --json``'s for the same inputs; on
the real reference dumps (four CPU vendors) and on a synthetic fleet (``fleet synth``) of two
vendors with NX-off hosts and hostile host names. The document's ladders agree with ``evc check``."""

from __future__ import annotations

import json
from collections import defaultdict
from html.parser import HTMLParser

import numpy as np
import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from cpucompat.cluster import Policy
from cpucompat.decode import decode
from cpucompat.fleet.bits import pack
from cpucompat.fleet.model import from_decoded
from cpucompat.fleet.synth import synthesize, write_fingerprints
from cpucompat.fleet.tables import write_table
from cpucompat.formats.reader import read_dump
from cpucompat.views.report import report_document
from cpucompat.views.report_page import report_page

from ..browser import assert_png, render
from ..conftest import EVC_INSTLATX64, reference

runner = CliRunner()
DUMPS = ("dumps", "instlatx64")
CASCADE_LAKE = "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt"
MILAN = "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"
HOSTILE = ['<script>alert("x")</script>', "quote\"'&amp;", "bell\x07new\nline\x1b[2J"]
SYNTH_HOSTS = 3000


class DomReader(HTMLParser):
    """What the rendered page shows: per vendor section the data-key values in order, the rows'
    data- attributes, every tag and all text."""

    def __init__(self):
        super().__init__()
        self.vendor = None
        self.values = defaultdict(lambda: defaultdict(list))
        self.rows = defaultdict(lambda: defaultdict(list))
        self.tags, self.text = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section" and "data-vendor" in attrs:
            self.vendor = attrs["data-vendor"]
        if "data-key" in attrs:
            self.values[self.vendor][attrs["data-key"]].append(attrs["data-value"])
        for name in ("data-class-id", "data-domain", "data-costly-hosts"):
            if name in attrs:
                self.rows[self.vendor][name].append(attrs[name])
        if "data-guest" in attrs:
            self.rows[self.vendor]["floors"].append((attrs["data-guest"], attrs["data-boots"]))

    def handle_endtag(self, tag):
        if tag == "section":
            self.vendor = None

    def handle_data(self, data):
        self.text.append(data)


def shown(value) -> str:
    return "" if value is None else str(value)


def assert_same_numbers(page: DomReader, fleet: dict) -> None:
    """Every number the page shows from fleet's document is fleet --json's."""
    parts = fleet.get("vendors", [fleet])
    assert page.values[None]["total_hosts"] == [str(fleet["hosts"])]
    assert page.values[None]["vendors"] == [str(len(parts))]
    assert [v for v in page.values if v is not None] == [p["vendor"] for p in parts]
    for part in parts:
        got, rows = page.values[part["vendor"]], page.rows[part["vendor"]]
        domains = part["domains"]["domains"]
        assert got["hosts"] == [str(part["hosts"])]
        assert got["classes"] == [str(len(part["classes"]))]
        assert got["features"] == [str(len(part["features"]))]
        assert got["qemu_model"] == [shown(part["qemu_model"])] + [shown(d["qemu_model"]) for d in domains]
        assert got["evc_mode"] == [shown(part["evc_mode"])] + [shown(d["evc_mode"]) for d in domains]
        assert got["psabi_level"] == [shown(part["psabi_level"])] + [shown(d["psabi_level"]) for d in domains]
        assert rows["data-class-id"] == [c["id"] for c in part["classes"]]
        assert got["class_hosts"] == [str(c["hosts"]) for c in part["classes"]]
        assert rows["data-domain"] == [d["name"] for d in domains]
        assert got["domain_hosts"] == [str(d["hosts"]) for d in domains]
        assert rows["data-costly-hosts"] == [str(c["costly_hosts"]) for c in part["evc_costs"]]
        assert got["cost_hosts"] == [str(k["hosts"]) for c in part["evc_costs"] for k in c["classes"]]
        assert sum(int(n) for n in got["cpuid_class_hosts"]) == part["hosts"]
        unmet = {guest for guest, boots in rows["floors"] if boots == "false"}
        assert unmet == {g["guest"] for g in part["guest_floors"] if not g["boots"]}


def report_and_fleet(inputs: list[str], folder, *options: str) -> tuple:
    """``cpucompat report`` and ``cpucompat fleet --json`` over the same inputs, the page rendered."""
    page = folder / "report.html"
    result = runner.invoke(app, ["report", *inputs, "-o", str(page), *options])
    assert result.exit_code == 0, result.output
    fleet = runner.invoke(app, ["fleet", *inputs, "--json", "--domains", "3", *options])
    assert fleet.exit_code == 0, fleet.output
    rendered = render(page, folder)
    reader = DomReader()
    reader.feed(rendered.dom)
    return page, json.loads(fleet.stdout), rendered, reader


def assert_rendered_cleanly(page, rendered, reader) -> None:
    text = page.read_text()
    assert "<script" not in text and "<link" not in text and " src=" not in text  # self-contained
    assert not rendered.console, rendered.console
    assert_png(rendered.screenshot, 50_000, size=(1400, 2400))
    assert "script" not in reader.tags and {"table", "details", "section"} <= reader.tags
    print(f"report screenshot: {rendered.screenshot}")


def test_real_reference_dumps_and_fingerprints(tmp_path):
    """The InstLatx64 dumps and this project's own (four vendors; a /proc/cpuinfo read degraded),
    and a folder of fingerprints made from the Cascade Lake dump, two with hostile host names."""
    prints = tmp_path / "fingerprints"
    prints.mkdir()
    write_fingerprints(read_dump(reference(*DUMPS, CASCADE_LAKE)), str(prints), 20, configs=4, seed=2)
    for name, hostile in zip(sorted(prints.iterdir())[:2], HOSTILE[::2]):
        document = json.loads(name.read_text())
        document["host"]["hostname"] = hostile
        name.write_text(json.dumps(document))
    inputs = [str(reference(*DUMPS)), str(reference("dumps", "local")), str(prints)]
    page, fleet, rendered, reader = report_and_fleet(inputs, tmp_path)
    assert_rendered_cleanly(page, rendered, reader)
    assert_same_numbers(reader, fleet)
    assert {p["vendor"] for p in fleet["vendors"]} == {"GenuineIntel", "AuthenticAMD", "HygonGenuine", "CentaurHauls"}
    text = "".join(reader.text)
    assert '<script>alert("x")</script>' in text and "bell\\x07new\\x0aline\\x1b[2J" in text
    assert "\x07" not in text and "\x1b" not in text


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A fleet synth fleet of Cascade Lake and Milan hosts (0.5% NX off, other BIOS masks), three
    of them with hostile names, as a fleet table; and its NX-off host names."""
    sources = [decode(read_dump(reference(*DUMPS, name))) for name in (CASCADE_LAKE, MILAN)]
    fleet = synthesize(sources, SYNTH_HOSTS, seed=5)
    hosts = fleet.hosts.copy()
    hosts.iloc[[0, 1, 2]] = HOSTILE
    fleet.hosts = hosts
    folder = tmp_path_factory.mktemp("report")
    path = folder / "fleet.csv"
    write_table(fleet, str(path))
    off = ~np.any(fleet.bits & pack(["nx"]), axis=1)
    return path, set(fleet.hosts[off])


def test_synthetic_mixed_vendors_nx_off_and_hostile_names(synthetic, tmp_path):
    path, nx_off = synthetic
    assert nx_off
    page, fleet, rendered, reader = report_and_fleet([str(path)], tmp_path)
    assert_rendered_cleanly(page, rendered, reader)
    assert_same_numbers(reader, fleet)
    assert [p["vendor"] for p in fleet["vendors"]] == ["AuthenticAMD", "GenuineIntel"]
    text = "".join(reader.text)
    # hostile names are shown as text, escaped; none became markup or a control character
    assert '<script>alert("x")</script>' in text and "quote\"'&amp;" in text
    assert "bell\\x07new\\x0aline\\x1b[2J" in text and "\x07" not in text and "\x1b" not in text
    # the NX-off hosts cost the EVC mode, with the BIOS setting to change
    assert all(p["evc_mode"] is None for p in fleet["vendors"])
    assert "enable Execute Disable (XD / NX) in the BIOS" in text
    assert all(any(k["bios"] == {"nx-disabled": ["nx"]} for c in p["evc_costs"] for k in c["classes"])
               for p in fleet["vendors"])


def test_console_errors_are_seen(tmp_path):
    """The render helper does report a page's console errors (the check above is not vacuous)."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>nosuch();</script></body></html>")
    rendered = render(page, tmp_path)
    assert any("nosuch" in line for line in rendered.console), rendered.stderr[-2000:]


def test_ladders_agree_with_evc_check():
    """Per real dump: the ladder's EVC mode is the one vCenter gives (conftest's table), and the
    next mode and what stops it are evc check's."""
    for name, expected in EVC_INSTLATX64.items():
        host = decode(read_dump(reference(*DUMPS, name)))
        (part,) = report_document(from_decoded([host]), Policy(), k=1)["vendors"]
        (item,) = part["cpuid_classes"]
        result = runner.invoke(app, ["evc", "check", str(reference(*DUMPS, name)), "--json"])
        (check,) = json.loads(result.stdout)["hosts"]
        assert item["ladder"]["evc"]["highest"] == expected == check["max_evc_mode"], name
        assert item["ladder"]["evc"]["next"] == check["next_mode"], name
        assert item["ladder"]["evc"]["missing"] == check["next_mode_missing"], name
        assert item["ladder"]["psabi"]["highest"] == part["fleet"]["psabi_level"], name
        assert item["ladder"]["qemu"]["highest"] == part["fleet"]["qemu_model"], name


def test_heat_map_and_same_cpu_name_the_bios_setting(synthetic):
    """Same CPU, fewer features: the NX-off hosts are set apart with the XD setting; the heat map
    shows them lacking nx in the x86-64 base family, and their ladder stops below EVC's first mode."""
    from cpucompat.fleet.tables import read_table

    path, nx_off = synthetic
    document = report_document(read_table(str(path)), Policy(), k=2)
    intel = next(p for p in document["vendors"] if p["fleet"]["vendor"] == "GenuineIntel")
    nx = [e for e in intel["same_cpu"] if e["lacking"] == ["nx"]]
    assert nx and all(e["bios"] == {"nx-disabled": ["nx"]} and e["unexplained"] == [] for e in nx)
    (base,) = [i for i, g in enumerate(intel["heat_groups"]) if "nx" in g["features"]]
    assert intel["heat_groups"][base]["label"] == "x86-64 base"
    lacking_nx = [c for c in intel["heat"] if "nx" in c["lacks"][base]]
    intel_hosts = {h for c in intel["heat"] for h in c["host_names"]}
    assert lacking_nx and {h for c in lacking_nx for h in c["host_names"]} == nx_off & intel_hosts
    assert [c["id"] for c in intel["heat"]] == [c["id"] for c in intel["fleet"]["classes"]]
    ladders = [c["ladder"]["evc"] for c in intel["cpuid_classes"] if c["compatibility_class"] in
               {h["name"] for h in lacking_nx}]
    assert ladders and all(e["highest"] is None and e["next"] == "intel-merom" and "nx" in e["missing"] for e in ladders)


def test_ten_thousand_hosts_stay_small(tmp_path):
    """Hosts are aggregated by class: 10,000 synthetic hosts make a page well under 5 MB."""
    sources = [decode(read_dump(reference(*DUMPS, name))) for name in (CASCADE_LAKE, MILAN)]
    document = report_document(synthesize(sources, 10_000, seed=1), Policy())
    page = report_page(document)
    assert len(page.encode()) < 5_000_000
    assert sum(len(c["host_names"]) for p in document["vendors"] for c in p["cpuid_classes"]) == 10_000
    assert sum(len(c["host_names"]) for p in document["vendors"] for c in p["heat"]) == 10_000


def test_cross_vendor_and_another_vocabulary(tmp_path):
    """--cross-vendor makes one part (no EVC mode, no QEMU model across vendors), --names spells the
    features; the page's numbers are still fleet --json's with the same options."""
    inputs = [str(reference(*DUMPS, name)) for name in (CASCADE_LAKE, MILAN)]
    page = tmp_path / "report.html"
    options = ["--cross-vendor", "--names", "qemu", "--domains", "2"]
    result = runner.invoke(app, ["report", *inputs, "-o", str(page), *options])
    assert result.exit_code == 0, result.output
    fleet = json.loads(runner.invoke(app, ["fleet", *inputs, "--json", *options]).stdout)
    reader = DomReader()
    reader.feed(page.read_text())
    assert fleet["vendor"] is None and fleet["evc_mode"] is None and fleet["qemu_model"] is None
    got = reader.values[""]  # the one section: data-vendor=""
    assert got["hosts"] == ["2"] and got["features"] == [str(len(fleet["features"]))]
    assert got["psabi_level"][0] == shown(fleet["psabi_level"])
    assert reader.rows[""]["data-class-id"] == [c["id"] for c in fleet["classes"]]
    assert "mixed (cross-vendor): 2 of 2 hosts" in "".join(reader.text)
    text = page.read_text()
    assert "sse4.2" in text and "sse4_2" not in text  # QEMU's name, not the canonical one
