"""Decoding hostile input: no leaf 0, control bytes in register text, clashing host names
(issue 12 #13, #15)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cpucompat.cli import app

from .formats import _samples

runner = CliRunner()

NO_LEAF0 = """\
CPU 0:
   0x00000001 0x00: eax=0x00b00f21 ebx=0x00020800 ecx=0xfffa3203 edx=0x178bfbff
   0x00000007 0x00: eax=0x00000001 ebx=0xf1bf97a9 ecx=0x00415fce edx=0x10000010
"""
#: Vendor "Genu\x1b[2Jine\n\x07" and a brand with ESC, BEL and a newline.
CONTROL_BYTES = """\
CPU 0:
   0x00000000 0x00: eax=0x0000000d ebx=0x1b756e65 ecx=0x07000a65 edx=0x6e694a32
   0x00000001 0x00: eax=0x000206a7 ebx=0x00100800 ecx=0x1fbae3ff edx=0xbfebfbff
   0x80000000 0x00: eax=0x80000008 ebx=0x00000000 ecx=0x00000000 edx=0x00000000
   0x80000002 0x00: eax=0x1b41414a ebx=0x0a07325b ecx=0x00000041 edx=0x00000000
"""


def _error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_dump_without_leaf_0_is_rejected(tmp_path):
    path = tmp_path / "noleaf0.txt"
    path.write_text(NO_LEAF0)
    result = runner.invoke(app, ["decode", str(path), "--json"])
    assert result.exit_code == 2
    assert _error_lines(result) == [f"error: {path}: CPU 0 has no CPUID leaf 0 (vendor and highest basic "
                                    "leaf); expected a dump that starts at leaf 0"]
    assert "Traceback" not in result.stderr


def test_control_bytes_of_vendor_and_brand_never_reach_the_terminal(tmp_path):
    path = tmp_path / "ctl.txt"
    path.write_text(CONTROL_BYTES)
    for args in (["decode", str(path)], ["decode", str(path), "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        for char in "\x1b\x07\x00":
            assert char not in result.stdout
    document = json.loads(result.stdout)
    assert "\\x1b" in document["vendor"] and "\n" not in document["vendor"] and "\n" not in document["brand"]
    assert "\\x1b" in document["brand"]


def test_hosts_with_the_same_file_name_keep_apart(tmp_path):
    for folder, dump in (("dc1", _samples.CPUID_R_ONE), ("dc2", _samples.CPUID_R_ONE.replace("1FBAE3FF", "1FBAE3FE"))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "host.txt").write_text(dump)  # dc2 lacks SSE3
    paths = [str(tmp_path / "dc1" / "host.txt"), str(tmp_path / "dc2" / "host.txt")]
    result = runner.invoke(app, ["baseline", *paths, "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["hosts"] == paths
    assert list(document["weakest_links"]) == [paths[1]]
    assert "not unique" in result.stderr


def test_the_same_file_twice_gets_two_names(tmp_path):
    path = tmp_path / "host.txt"
    path.write_text(_samples.CPUID_R_ONE)
    result = runner.invoke(app, ["baseline", str(path), str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["hosts"] == [str(path), f"{path}#2"]
