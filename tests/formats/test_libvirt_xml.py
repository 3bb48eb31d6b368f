"""libvirt ``<cpudata>`` XML: leaves, MSRs, label, and the XML attacks defusedxml must refuse."""

from __future__ import annotations

import time

import pytest

from cpucompat.errors import InputError
from cpucompat.formats import libvirt_xml
from cpucompat.formats.reader import parse_text

from ._samples import CPUID_R, LIBVIRT_XML

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<cpudata arch='x86'>
  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x0000000d' ebx='&lol9;' ecx='0x0' edx='0x0'/>
</cpudata>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE cpudata [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<cpudata arch='x86'>
  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='&xxe;' ebx='0x0' ecx='0x0' edx='0x0'/>
</cpudata>
"""


def test_sniff():
    assert libvirt_xml.sniff(LIBVIRT_XML) and libvirt_xml.sniff("  <x/>")
    assert not libvirt_xml.sniff(CPUID_R)


def test_leaves_msrs_and_label():
    dump = parse_text(LIBVIRT_XML, "cpu.xml")
    assert dump.format == "libvirt-xml"
    (cpu,) = dump.cpus
    assert cpu.index == 0 and cpu.label == "AMD EPYC 7502 32-Core Processor"
    assert cpu.get(1) == (0x00830F10, 0x00400800, 0x7EF8320B, 0x178BFBFF)
    assert cpu.get(0xD, 9) == (0x40, 0x340, 0, 0)
    assert dump.extra["msrs"] == {0x10A: 0x1_0000_0069}


@pytest.mark.parametrize("attack", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entities_are_refused_not_expanded(attack):
    start = time.perf_counter()
    with pytest.raises(InputError) as error:
        parse_text(attack, "evil.xml")
    assert time.perf_counter() - start < 1.0
    assert error.value.line == 2
    assert str(error.value).startswith("evil.xml:2: XML with a DOCTYPE")


def test_syntax_error_names_the_line():
    text = LIBVIRT_XML.replace("</cpudata>", "</cpudat>")
    with pytest.raises(InputError, match=r"^cpu\.xml:7: invalid XML: mismatched tag"):
        parse_text(text, "cpu.xml")


def test_wrong_root():
    with pytest.raises(InputError, match=r"cpu\.xml:1: XML root is <cpu>"):
        parse_text("<cpu mode='custom'><model>EPYC</model></cpu>", "cpu.xml")


def test_missing_attribute_and_big_register_name_the_line():
    missing = LIBVIRT_XML.replace(" edx='0x178bfbff'", "")
    with pytest.raises(InputError, match=r"cpu\.xml:4: <cpuid> lacks edx"):
        parse_text(missing, "cpu.xml")
    too_big = LIBVIRT_XML.replace("eax='0x00830f10'", "eax='0x100830f10'")
    with pytest.raises(InputError, match=r"cpu\.xml:4: eax 0x100830f10 is more than 32 bits"):
        parse_text(too_big, "cpu.xml")


def test_other_architecture():
    with pytest.raises(InputError, match="x86 CPUID only"):
        parse_text("<cpudata arch='ppc64'></cpudata>", "cpu.xml")
