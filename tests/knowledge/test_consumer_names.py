"""data/consumer-names.csv's libvirt rows have a generator (scripts/gen_libvirt_models.py
--consumer-names); regenerating them for the installed libvirt changes nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cpucompat.knowledge.tables import rows

REPO = Path(__file__).resolve().parents[2]
CPU_MAP = Path("/usr/share/libvirt/cpu_map")


def generator():
    spec = importlib.util.spec_from_file_location("gen_libvirt_models", REPO / "scripts" / "gen_libvirt_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_libvirt_rows_are_what_the_generator_writes_for_the_installed_libvirt():
    if not (CPU_MAP / "index.xml").is_file():
        pytest.skip(f"{CPU_MAP} not installed (libvirt0)")
    gen = generator()
    version = gen.libvirt_version()
    if not version:
        pytest.skip("virsh is not installed: the libvirt version is unknown")
    consumer = "libvirt-" + ".".join(version.split(".")[:2])
    shipped = [f"{r['consumer']},{r['kind']},{r['name']}" for r in rows("consumer-names.csv") if r["consumer"] == consumer]
    if not shipped:
        pytest.skip(f"data/consumer-names.csv has no {consumer} rows")
    assert gen.consumer_names(CPU_MAP, version) == shipped
