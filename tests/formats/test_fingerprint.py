"""cpucompat fingerprint v1 JSON: the mapping onto Dump and the shape errors."""

from __future__ import annotations

import copy
import json

import pytest

from cpucompat.errors import InputError
from cpucompat.formats import fingerprint
from cpucompat.formats.reader import parse_text

from ._reference import REPO
from ._samples import CPUID_R, FINGERPRINT, FINGERPRINT_DOC


def _with(change) -> str:
    doc = copy.deepcopy(FINGERPRINT_DOC)
    change(doc)
    return json.dumps(doc, indent=2)


def test_sniff():
    assert fingerprint.sniff(FINGERPRINT) and fingerprint.sniff(" [1]")
    assert not fingerprint.sniff(CPUID_R)


def test_mapping():
    dump = parse_text(FINGERPRINT, "fp.json")
    assert dump.format == "fingerprint" and not dump.degraded
    assert [c.index for c in dump.cpus] == [0, 1]
    assert dump.cpus[0].xcr0 == 0x2E7 and dump.cpus[1].xcr0 is None
    assert dump.cpus[0].get(7) == (0, 0x219C07AB, 0x0040069C, 0x88000010)
    assert dump.kvm_supported.get(1)[2] == 0xF6FA3203
    assert dump.kernel[0].flags == {"fpu", "avx2"} and dump.kernel[0].microcode == "0x1000065"
    assert dump.host["hostname"] == "node-a" and dump.name == "node-a"
    assert dump.notes == ["collected inside a KVM guest"]
    assert dump.extra["kernel"] == {"version": "6.18.0"}
    assert dump.extra["firmware"] == {"bios_vendor": "SeaBIOS"}
    assert set(dump.extra) >= {"firmware", "findings", "source", "kernel"}


def test_no_kvm_section():
    dump = parse_text(_with(lambda d: d["raw"].update(kvm_supported=None)), "fp.json")
    assert dump.kvm_supported is None


def test_bad_leaf_row_names_its_json_path():
    text = _with(lambda d: d["raw"]["cpus"][0]["leaves"][2].pop())
    with pytest.raises(InputError, match=r"fp\.json: raw\.cpus\[0\]\.leaves\[2\]: expected 6 hex strings"):
        parse_text(text, "fp.json")


def test_register_over_32_bits():
    text = _with(lambda d: d["raw"]["cpus"][1]["leaves"][0].__setitem__(3, "0x1ffffffff"))
    with pytest.raises(InputError, match=r"raw\.cpus\[1\]\.leaves\[0\]\[3\]: 0x1ffffffff is more than 32 bits"):
        parse_text(text, "fp.json")


def test_other_json_is_the_wrong_shape():
    with pytest.raises(InputError, match=r"^x\.json: JSON of the wrong shape: expected a cpucompat fingerprint"):
        parse_text('{"hello": "world"}', "x.json")
    with pytest.raises(InputError, match="JSON of the wrong shape"):
        parse_text("[1, 2, 3]", "x.json")
    with pytest.raises(InputError, match="got format 'other'"):
        parse_text('{"format": "other"}', "x.json")


def test_missing_raw_and_wrong_version():
    with pytest.raises(InputError, match="raw: expected an object, got null"):
        parse_text(_with(lambda d: d.pop("raw")), "fp.json")
    with pytest.raises(InputError, match="version 2 is not supported"):
        parse_text(_with(lambda d: d.update(version=2)), "fp.json")


def test_syntax_error_names_the_line():
    text = FINGERPRINT.replace('"version": 1,', '"version": 1', 1)
    with pytest.raises(InputError) as error:
        parse_text(text, "fp.json")
    assert error.value.line == 4 and "invalid JSON" in str(error.value)


def test_sample_matches_the_schema_when_there_is_one():
    """Keeps this parser and data/fingerprint.schema.json (written elsewhere) in step."""
    schema_path = REPO / "data" / "fingerprint.schema.json"
    if not schema_path.is_file():
        pytest.skip("data/fingerprint.schema.json not written yet")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(FINGERPRINT_DOC, json.loads(schema_path.read_text()))


@pytest.mark.parametrize("sample", [FINGERPRINT, CPUID_R])
def test_fingerprint_writer_round_trip(sample):
    """What cpucompat.fingerprint writes, this parser reads back to the same leaves."""
    writer = pytest.importorskip("cpucompat.formats.fingerprint_write")
    if not hasattr(writer, "from_dump") or not hasattr(writer, "dumps"):
        pytest.skip("cpucompat.formats.fingerprint_write has no from_dump/dumps")
    dump = parse_text(sample, "in.txt")
    again = parse_text(writer.dumps(writer.from_dump(dump)), "fp.json")
    assert again.format == "fingerprint"
    assert [(c.index, c.xcr0, c.leaves) for c in again.cpus] == [
        (c.index, c.xcr0, c.leaves) for c in dump.cpus
    ]
    assert [(k.index, k.flags) for k in again.kernel] == [(k.index, k.flags) for k in dump.kernel]
