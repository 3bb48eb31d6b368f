"""The mask-format registry (``cpucompat.masks.FORMATS``) is the one place to add a format: the
CLI offers exactly its formats (plus vmx-evc), and each one is documented and tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cpucompat.cli import MaskFormat
from cpucompat.errors import UsageError
from cpucompat.masks import FORMATS, render

ROOT = Path(__file__).resolve().parents[2]


def _mask_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### `cpucompat mask ")
    end = text.find("\n### ", start + 1)
    return text[start:end if end > 0 else None]


def test_cli_choices_come_from_the_registry():
    assert [f.value for f in MaskFormat] == [*FORMATS, "vmx-evc"]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_is_documented(fmt):
    assert re.search(rf"`{re.escape(fmt)}`", _mask_section()), f"README's mask section does not name `{fmt}`"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_has_tests(fmt):
    module = fmt.replace("-", "_")
    tests = ROOT / "tests" / "masks" / f"test_{module}.py"
    assert tests.is_file(), f"{fmt}: no {tests.relative_to(ROOT)}"
    assert f'"{fmt}"' in tests.read_text(), f"{tests.name} never renders the {fmt} format"


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown mask format"):
        render(None, "bochs")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_has_its_renderer_module(fmt):
    from importlib import import_module

    module = import_module(f"cpucompat.masks.{fmt.replace('-', '_')}")
    assert callable(module.render), f"cpucompat/masks/{module.__name__}.py has no render(plan, options)"
