"""Property tests: whatever the text, every parser returns a Dump or raises InputError.

Inputs are arbitrary text and mutations of a valid sample of each format: truncated at a
random point, a line duplicated or deleted, characters replaced.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpucompat.dump import Dump
from cpucompat.errors import InputError
from cpucompat.formats import aida64, cpuid_r, fingerprint, libcpuid, libvirt_xml, proc_cpuinfo
from cpucompat.formats.reader import parse_text

from ._samples import SAMPLES

PARSERS = {
    "fingerprint": fingerprint,
    "cpuid-r": cpuid_r,
    "libvirt-xml": libvirt_xml,
    "aida64": aida64,
    "libcpuid": libcpuid,
    "proc-cpuinfo": proc_cpuinfo,
}
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# characters that matter to the formats, so that replacements often stay "almost valid"
_ALPHABET = st.sampled_from(list("0123456789abcdefABCDEFxX:-=[]<>/'\"{},# \t\n_") + ["\x00", "é", "\r"])


def _outcome(call) -> None:
    try:
        result = call()
    except InputError as error:
        assert error.path and str(error).startswith(error.path)
        return
    assert isinstance(result, Dump)


@st.composite
def mutated(draw, text: str) -> str:
    lines = text.split("\n")
    kind = draw(st.sampled_from(["truncate", "duplicate", "delete", "replace", "insert"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind in ("duplicate", "delete"):
        i = draw(st.integers(0, len(lines) - 1))
        lines[i : i + 1] = [lines[i]] * (2 if kind == "duplicate" else 0)
        return "\n".join(lines)
    chars = list(text)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(chars) - 1))
        new = draw(st.one_of(_ALPHABET, st.characters()))
        chars[i : i + (kind == "replace")] = [new]
    return "".join(chars)


@FAST
@given(st.text())
def test_parse_text_on_arbitrary_text(text):
    _outcome(lambda: parse_text(text, "any.txt"))


@pytest.mark.parametrize("name", sorted(PARSERS))
@FAST
@given(text=st.text())
def test_each_parser_on_arbitrary_text(name, text):
    _outcome(lambda: PARSERS[name].parse(text, "any.txt"))


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@FAST
@given(data=st.data())
def test_mutated_samples(sample, data):
    text = data.draw(mutated(SAMPLES[sample]))
    _outcome(lambda: parse_text(text, "mutant.txt"))


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@FAST
@given(data=st.data())
def test_mutated_samples_through_their_own_parser(sample, data):
    """A mutant no longer sniffed as its format still reaches that format's parser here."""
    text = data.draw(mutated(SAMPLES[sample]))
    module = PARSERS[next(name for name in PARSERS if sample.startswith(name))]
    _outcome(lambda: module.parse(text, "mutant.txt"))


def test_samples_are_valid():
    for name, text in SAMPLES.items():
        assert isinstance(parse_text(text, name), Dump), name
