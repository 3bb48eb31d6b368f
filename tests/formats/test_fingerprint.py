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
    with pytest.raises(InputError, match=r"raw\.cpus\[1\]\.leaves\[0\]\[3\]: expected a hex string of at most 32 bits"):
        parse_text(text, "fp.json")


def test_other_json_is_the_wrong_shape():
    with pytest.raises(InputError, match=r"^x\.json: JSON of the wrong shape: expected a cpucompat fingerprint"):
        parse_text('{"hello": "world"}', "x.json")
    with pytest.raises(InputError, match="JSON of the wrong shape"):
        parse_text("[1, 2, 3]", "x.json")
    with pytest.raises(InputError, match="got format 'other'"):
        parse_text('{"format": "other"}', "x.json")


def test_missing_raw_and_wrong_version():
    with pytest.raises(InputError, match="fp.json: missing raw$"):
        parse_text(_with(lambda d: d.pop("raw")), "fp.json")
    with pytest.raises(InputError, match="version 2 is not supported"):
        parse_text(_with(lambda d: d.update(version=2)), "fp.json")


def test_syntax_error_names_the_line():
    text = FINGERPRINT.replace('"version": 1,', '"version": 1', 1)
    with pytest.raises(InputError) as error:
        parse_text(text, "fp.json")
    assert error.value.line == 4 and "invalid JSON" in str(error.value)


def test_sample_matches_the_schema():
    """The compiled validator and the reference validator (jsonschema) agree on the sample."""
    import jsonschema

    jsonschema.validate(FINGERPRINT_DOC, json.loads((REPO / "data" / "fingerprint.schema.json").read_text()))
    assert fingerprint.validate(copy.deepcopy(FINGERPRINT_DOC)) is None


@pytest.mark.parametrize("change, message", [
    (lambda d: d["raw"]["cpus"][0].update(cpu=-1), r"raw\.cpus\[0\]\.cpu: must be bigger than or equal to 0"),
    (lambda d: d["raw"]["cpus"][0].update(cpu=True), r"raw\.cpus\[0\]\.cpu: expected an integer, got True"),
    (lambda d: d["raw"]["cpus"][0].update(xcr0=5), r"raw\.cpus\[0\]\.xcr0: expected XCR0 as a hex string"),
    (lambda d: d["raw"]["cpus"][0]["leaves"][0].__setitem__(0, "0X1"), r"leaves\[0\]\[0\]: expected a hex string"),
    (lambda d: d["raw"].update(cpus=d["raw"]["cpus"] * 4097), r"raw\.cpus: more than 8192 CPUs"),
    (lambda d: d["kernel"]["cpus"][0].update(family="6"), r"kernel\.cpus\[0\]\.family: expected an integer or null, got '6'"),
    (lambda d: d["firmware"].update(bios_vendor=["x"]), r"firmware\.bios_vendor: expected a string or null, got an array"),
    (lambda d: d.update(extra={"x": 1}), r"fp\.json: unexpected 'extra'$"),
    (lambda d: d["host"].pop("tool_version"), r"host: missing tool_version$"),
    (lambda d: d.update(version=True), r"version True is not supported"),
])
def test_schema_violations_name_their_json_path(change, message):
    """Shape is checked by the schema (data/fingerprint.schema.json) alone; each violation names where."""
    with pytest.raises(InputError, match=message):
        parse_text(_with(change), "fp.json")


def test_every_fingerprint_the_writer_makes_validates():
    """The schema stays the one truth: what the writer builds from every sample format validates."""
    from ._samples import SAMPLES

    for name, text in SAMPLES.items():
        document = fingerprint.from_dump(parse_text(text, f"{name}.txt"))
        assert fingerprint.validate(document) is None, name


@pytest.mark.parametrize("sample", [FINGERPRINT, CPUID_R])
def test_fingerprint_writer_round_trip(sample):
    """What the writer writes, the reader reads back to the same leaves."""
    dump = parse_text(sample, "in.txt")
    again = parse_text(fingerprint.dumps(fingerprint.from_dump(dump)), "fp.json")
    assert again.format == "fingerprint"
    assert [(c.index, c.xcr0, c.leaves) for c in again.cpus] == [
        (c.index, c.xcr0, c.leaves) for c in dump.cpus
    ]
    assert [(k.index, k.flags) for k in again.kernel] == [(k.index, k.flags) for k in dump.kernel]
