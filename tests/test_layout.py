"""The package's layout holds: imports run down the pipeline only, and no module grows too big.

The pipeline, from the bottom: shared plumbing -> knowledge (data tables, CPUID layout,
levelled fields) -> formats (readers and writers) -> decode -> analysis (cluster, compare, EVC,
guest floors, diff) -> the host agent (it names EVC modes and classes for NFD and Prometheus) ->
fleet -> masks -> views -> vSphere -> the CLI. A module may import its own stage and the stages
below it, never one above (a lazy import inside a function counts too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGE = REPO / "cpucompat"
#: Stage of each top-level module or subpackage of cpucompat, bottom first.
STAGES = [
    {"errors", "text", "output", "cpulist", "dump"},
    {"knowledge", "cpuid_fields", "levels"},
    {"formats"},
    {"decode"},
    {"cluster", "compare", "evc", "guests", "diff", "advice"},
    {"collect"},
    {"fleet"},
    {"masks"},
    {"views"},
    {"vsphere"},
    {"cli", "cli_fleet", "cli_report", "cli_help", "__main__", "__init__"},
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}
#: Modules whose stage is not their folder's: collect's command line is a CLI module.
STAGE_OF_MODULE = {"collect/command.py": "cli"}
#: Lines a module may have before it wants splitting (issue 13: "no module over ~400 lines").
MAX_LINES = 420


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _stage_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return STAGE_OF_MODULE.get(relative.as_posix(), relative.parts[0].removesuffix(".py"))


def _imported_stages(path: Path) -> set[str]:
    """The cpucompat stages a module imports, lazily or not."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(REPO).with_suffix("").parts[:-1]
    if path.name == "__init__.py":
        package = path.relative_to(REPO).parts[:-1]
    stages = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = (*base, *(node.module.split(".") if node.module else ()))
                if len(target) == 1:  # from . import x (inside cpucompat/): x is the stage
                    stages.update(alias.name for alias in node.names)
                    continue
            else:
                target = tuple((node.module or "").split("."))
            if target[0] == "cpucompat":
                if len(target) > 1:
                    stages.add(target[1])
                else:
                    stages.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "cpucompat" and len(parts) > 1:
                    stages.add(parts[1])
    return stages


def test_every_module_has_a_stage():
    assert {_stage_of(p) for p in _modules()} <= set(RANK), "add the new module to STAGES"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_down_the_pipeline(path):
    here = RANK[_stage_of(path)]
    upward = {s for s in _imported_stages(path) if s in RANK and RANK[s] > here}
    assert not upward, f"{path.relative_to(REPO)} imports a later stage: {sorted(upward)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_big(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines; split it by concern"


def test_every_module_says_what_it_owns():
    """A short docstring on every module."""
    missing = [str(p.relative_to(REPO)) for p in _modules()
               if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert not missing
