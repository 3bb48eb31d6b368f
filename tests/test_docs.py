"""README and CLI agree: every command is documented and has help; the JSON example is real."""

from __future__ import annotations

import json
import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cpucompat.cli import app

from .conftest import REPO, TEST_DATA

README = (REPO / "README.md").read_text()
runner = CliRunner()


def _commands(group=None, prefix="cpucompat"):
    group = group or get_command(app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


@pytest.mark.parametrize("name, command", list(_commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_is_documented_and_has_help(name, command):
    assert command.help, f"{name} has no help text"
    words = name.split()
    documented = " ".join(words) in README or (words[-1] == "analyse" and " ".join(words[:-1]) in README)
    if words[-2:-1] == ["evc"]:
        documented = "cpucompat evc list | show MODE | check" in README
    assert documented, f"README does not document `{name}`"
    assert runner.invoke(app, [*words[1:], "--help"]).exit_code == 0


def test_readme_decode_json_example_has_the_real_keys():
    example = re.search(r"`--json` prints:\n\n```json\n(.*?)```", README, re.S).group(1)
    documented = json.loads(example.replace('"..."', '"x"'))
    actual = json.loads(runner.invoke(app, ["decode", str(TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"),
                                            "--json"]).stdout)
    assert set(documented) == set(actual)
    assert set(documented["fields"]) == set(actual["fields"])


def test_readme_names_the_test_and_demo_commands():
    assert "scripts/test.sh" in README and "scripts/demo.sh" in README
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
