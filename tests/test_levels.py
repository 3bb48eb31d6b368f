"""Every row of data/levelled-fields.csv reaches every stage: adding a levelled field is one row.

For each field a target is made weaker than the VM in that field alone (a lower quantity, a
missing XSAVE component); then decode, cluster and fleet must level it alike, compare must
flag it, masks must lower it where the table says lowerable (at the table's CPUID location),
and the text views must print it as the table says.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from dataclasses import replace
from functools import cache

import pytest

from cpucompat import levels
from cpucompat.cluster import cluster_baseline
from cpucompat.compare import compare, missing_xsave_components, source_from_host
from cpucompat.decode import _difference_warnings, _shared_fields, decode
from cpucompat.formats.reader import read_dump
from cpucompat.masks.bits import forced_bits
from cpucompat.masks.plan import header_lines, plan_for_hosts
from cpucompat.views.baseline import baseline_json, print_baseline
from cpucompat.views.compare import print_verdicts, verdict_json
from cpucompat.views.decode import decode_document, print_decoded
from cpucompat.views.text import scalar_text

from .conftest import REPO, TEST_DATA

FIELDS = levels.levelled_fields()


@cache
def _vm():
    return decode(read_dump(str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt")))


def _weaker(field: levels.Levelled):
    """The VM's host, weaker in this one field (its lowest set member dropped, or one less)."""
    vm = _vm()
    value = vm.fields[field.name]
    assert value, f"{field.name}: the test dump has no value to lower"
    weaker = value & (value - 1) if field.is_set else value - 1
    return replace(vm, name="weaker", fields={**vm.fields, field.name: weaker}), value ^ weaker if field.is_set else weaker


def _printed(printer, document) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        printer(document)
    return out.getvalue()


def test_the_table_is_well_formed():
    assert [f.name for f in FIELDS] == list(dict.fromkeys(f.name for f in FIELDS))
    for field in FIELDS:
        assert field.rule in ("min", "and") and field.shown in ("hex", "decimal", "xsave")
        assert field.is_set == (field.shown == "xsave")
        assert 0 <= field.lowest and 0 < field.width and field.lowest + field.width <= (64 if field.is_set else 32)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_levelled_alike_by_decode_cluster_and_fleet(field):
    fleet = pytest.importorskip("cpucompat.fleet.model")
    weaker, _ = _weaker(field)
    hosts = [_vm(), weaker]
    expected = {f.name: f.level([_vm().fields[f.name], weaker.fields[f.name]]) for f in FIELDS}
    assert cluster_baseline(hosts).fields == expected
    assert fleet.level_fields(fleet.from_decoded(hosts).scalars) == expected
    cpus = [replace(cpu, fields={**cpu.fields, field.name: weaker.fields[field.name]}) if i else cpu
            for i, cpu in enumerate(_vm().per_cpu * 2)]
    assert _shared_fields(cpus)[field.name] == expected[field.name]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_compared(field):
    weaker, _ = _weaker(field)
    verdict = compare(source_from_host(_vm()), weaker)
    assert not verdict.compatible
    if field.is_set:
        assert missing_xsave_components(_vm().fields, weaker.fields) == verdict.missing_xsave != []
    else:
        assert verdict.lower == {field.name: (_vm().fields[field.name], weaker.fields[field.name])}
    text = _printed(print_verdicts, {"source": "vm", "names": "linux", "targets": [verdict_json(verdict)]})
    shown = rf"lower limits \(source -> target\):\n +{field.name} +\S+ -> "
    assert "missing XSAVE components" in text if field.is_set else re.search(shown, text)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_lowered_by_masks_where_lowerable(field):
    weaker, removed = _weaker(field)
    plan = plan_for_hosts(_vm(), [weaker])
    if field.is_set:
        assert plan.xsave_hidden & removed == (removed if field.lowerable else 0)
        return
    assert (field.name in plan.lower) == field.lowerable
    if field.lowerable:
        forced = forced_bits(plan)[(field.leaf, field.subleaf, field.register)]
        mask = (1 << field.width) - 1 << field.lowest
        assert forced.ones & mask == removed << field.lowest and (forced.ones | forced.zeros) & mask == mask
        assert f"lower {field.name} to {field.text(removed)}" in header_lines(plan)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_printed_by_the_text_views(field):
    value = _vm().fields[field.name]
    shown = field.text(value)
    assert scalar_text(field.name, levels.json_fields({field.name: value})[field.name]) == shown
    assert shown == {"hex": f"{value:#x}", "decimal": str(value)}.get(field.shown, shown)
    assert field.shown != "xsave" or shown.startswith(f"{value:#x} (")
    assert re.search(rf"\n +{field.name}  +\S", _printed(print_decoded, decode_document(_vm())))
    assert re.search(rf"\n +{field.name}  +\S", _printed(print_baseline, baseline_json(cluster_baseline([_vm()]))))
    assert shown in _printed(print_baseline, baseline_json(cluster_baseline([_vm()])))


def test_no_module_retypes_the_list():
    """A tuple, list or set naming three or more levelled fields is a copy of the table."""
    names = set(levels.names())
    copies = []
    for path in sorted((REPO / "cpucompat").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                found = {e.value for e in node.elts if isinstance(e, ast.Constant)} & names
                if len(found) >= 3:
                    copies.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not copies, f"levelled fields listed outside data/levelled-fields.csv: {copies}"


def test_cpus_that_differ_in_a_levelled_field_are_warned_about():
    """Every levelled field is checked across a host's CPUs (xss_supported was not)."""
    for field in FIELDS:
        first = _vm().per_cpu[0]
        weaker = {**first.fields, field.name: _weaker(field)[0].fields[field.name]}
        cpus = [first, replace(first, index=1, fields=weaker)]
        assert any(f"CPUs differ in {field.name}" in w for w in _difference_warnings(cpus)), field.name
