"""libvirt's raw CPUID test data (``tests/cputestdata/x86_64-cpuid-<CPU>.xml``).

``<cpudata arch='x86'>`` holds one CPU: ``<cpuid eax_in ecx_in eax ebx ecx edx/>`` per
leaf/subleaf and optional ``<msr index edx eax/>`` elements, kept in
``Dump.extra['msrs'] = {index: (edx << 32) | eax}``. The leading ``<!-- CPU name -->``
comment becomes the CPU label. Parsing goes through defusedxml with DTDs forbidden, so entity
expansion (billion laughs) and external entities are refused, never expanded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from cpucompat.dump import CpuLeaves, Dump
from cpucompat.errors import InputError
from cpucompat.formats._common import finish, hex32

NAME = "libvirt-xml"

_COMMENT = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?<!--\s*(.*?)\s*-->")
_DOCTYPE = re.compile(r"<!DOCTYPE|<!ENTITY")
_POSITION = re.compile(r": line \d+, column \d+$")
_CPUID_ATTRIBUTES = ("eax_in", "ecx_in", "eax", "ebx", "ecx", "edx")


def sniff(text: str) -> bool:
    """True for any XML-looking text; ``parse`` then insists on a ``<cpudata>`` root."""
    return text.lstrip("\ufeff \t\n").startswith("<")


@dataclass
class _Element:
    tag: str
    attrib: dict[str, str]
    line: int
    depth: int


class _Collector:
    """A parser target that records every element with its line (ElementTree keeps none)."""

    def __init__(self) -> None:
        self.parser: DefusedXMLParser | None = None
        self.elements: list[_Element] = []
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        line = self.parser.parser.CurrentLineNumber if self.parser is not None else 0
        self.elements.append(_Element(tag, dict(attrib), line, self.depth))
        self.depth += 1

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def close(self) -> list[_Element]:
        return self.elements


def parse(text: str, path: str) -> Dump:
    """The one CPU (and MSRs) of a libvirt ``<cpudata>`` file."""
    elements = _elements(text, path)
    root = elements[0]
    if root.tag != "cpudata":
        raise InputError(
            path, f"XML root is <{root.tag}>, expected libvirt <cpudata arch='x86'>", root.line
        )
    arch = root.attrib.get("arch", "x86")
    if arch != "x86":
        message = f"<cpudata arch='{arch}'>: cpucompat reads x86 CPUID only"
        raise InputError(path, message, root.line)
    cpu = CpuLeaves(index=0, label=_label(text))
    msrs: dict[int, int] = {}
    for element in elements[1:]:
        if element.depth == 1 and element.tag == "cpuid":
            _add_cpuid(element, path, cpu)
        elif element.depth == 1 and element.tag == "msr":
            _add_msr(element, path, msrs)
    return finish(path, NAME, [cpu], extra={"msrs": msrs})


def _elements(text: str, path: str) -> list[_Element]:
    collector = _Collector()
    parser = DefusedXMLParser(target=collector, forbid_dtd=True)
    collector.parser = parser
    try:
        parser.feed(text)
        elements = parser.close()
    except DefusedXmlException as error:
        raise InputError(path, _refusal(error), _line_of(_DOCTYPE, text)) from None
    except ParseError as error:
        message = _POSITION.sub("", str(error))
        raise InputError(path, f"invalid XML: {message}", error.position[0]) from None
    except (ValueError, TypeError) as error:  # encoding declarations expat cannot honour
        raise InputError(path, f"invalid XML: {error}", 1) from None
    if not elements:
        raise InputError(path, "invalid XML: no element found", 1)
    return elements


def _refusal(error: DefusedXmlException) -> str:
    return (
        f"XML with a DOCTYPE or entity declarations is refused ({type(error).__name__}): "
        "entity expansion and external entities are never processed"
    )


def _line_of(pattern: re.Pattern[str], text: str) -> int:
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _label(text: str) -> str:
    comment = _COMMENT.match(text)
    return comment.group(1) if comment else ""


def _attributes(element: _Element, names: tuple[str, ...], path: str) -> list[int]:
    missing = [name for name in names if name not in element.attrib]
    if missing:
        raise InputError(path, f"<{element.tag}> lacks {', '.join(missing)}", element.line)
    return [hex32(element.attrib[name], path, element.line, name) for name in names]


def _add_cpuid(element: _Element, path: str, cpu: CpuLeaves) -> None:
    element.attrib.setdefault("ecx_in", "0")  # older libvirt files may omit it
    leaf, subleaf, eax, ebx, ecx, edx = _attributes(element, _CPUID_ATTRIBUTES, path)
    cpu.leaves[(leaf, subleaf)] = (eax, ebx, ecx, edx)


def _add_msr(element: _Element, path: str, msrs: dict[int, int]) -> None:
    index, edx, eax = _attributes(element, ("index", "edx", "eax"), path)
    msrs[index] = edx << 32 | eax
