"""XSAVE components have one home, ``data/xsave-components.csv``: names, owners, sizes and
standard offsets (the AIDA64 reader's subleaf inference reads its sizes there)."""

from __future__ import annotations

from cpucompat.cpuid_fields import xsave_components
from cpucompat.formats import _xsave

from ..collect.cpus import alder_lake_p, skylake_sp


def test_sizes_come_from_the_table():
    sizes = _xsave.components()
    assert sizes[62] == (0x80, 0x340)  # AMD LWP
    assert sizes[2] == (0x100, 0x240) and sizes[18] == (0x2000, 0xB00)
    assert set(sizes) == {c for c in xsave_components() if c >= 2}


def test_user_components_have_size_and_offset_supervisor_ones_no_offset():
    for component, (size, offset) in _xsave.components().items():
        register = xsave_components()[component]["register"]
        if register == "xcr0":
            assert size and offset, component
        else:
            assert offset is None, component


def test_table_agrees_with_real_intel_cpus():
    """CPUID.(EAX=0xD,ECX=i): EAX = size, EBX = standard offset (0 for supervisor components)."""
    checked = 0
    for table in (skylake_sp(), alder_lake_p()):
        for (leaf, subleaf), (eax, ebx, _, _) in table.items():
            if leaf == 0xD and subleaf >= 2 and eax:
                size, offset = _xsave.components()[subleaf]
                assert (size in (None, eax), ebx or None) == (True, offset), subleaf  # arch LBR: size varies
                checked += 1
    assert checked >= 5
