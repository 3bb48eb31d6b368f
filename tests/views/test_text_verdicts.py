"""Text output of compare, baseline, evc list/show/check and decode, pinned on reference dumps and
fixtures (reviewed by eye once); the next steps in --json; colour only on a terminal; --help of
every command of the app with an example and no type placeholder."""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import subprocess
import sys

import pytest
import typer

from cpucompat.advice import mask_command
from cpucompat.cli import app
from cpucompat.formats import fingerprint
from cpucompat.formats.reader import read_dump

from ..conftest import TEST_DATA, reference
from .snapshots import assert_snapshot, cli_text

SPR = "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt"
HASWELL = "GenuineIntel00306F2_HaswellEP_00_CPUID.txt"
EMR = "GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt"
CASCADE = "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt"
ICX = "GenuineIntel00606A6_ICX_CPUID3.txt"
SKYLAKE_2017 = "GenuineIntel0050654_SkylakeXeon_CPUID9.txt"
MILAN = TEST_DATA / "linux-kvm-zen3-epyc-milan_cpuid-r.txt"
ESCAPE = "\x1b["
#: An SGR sequence that sets a foreground colour (NO_COLOR leaves bold alone: it is not a colour).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[;m]")


def dumps():
    return reference("dumps", "instlatx64")


@pytest.fixture
def no_nx(tmp_path):
    """A fingerprint of the Milan KVM guest with NX off (0x80000001 EDX[20] clear) and the BIOS
    finding that says so, as ``host-17.json``, beside the original dump."""
    dump = read_dump(MILAN)
    for cpu in dump.cpus:
        eax, ebx, ecx, edx = cpu.get(0x80000001)
        cpu.leaves[(0x80000001, 0)] = (eax, ebx, ecx, edx & ~(1 << 20))
    document = fingerprint.from_dump(dump)
    document["findings"] = [{"id": "nx-disabled", "status": "found", "evidence": "test",
                             "explanation": "Execute Disable off in the BIOS", "cpus": [0, 1]}]
    (tmp_path / "host-17.json").write_text(fingerprint.dumps(document))
    (tmp_path / "milan.txt").write_text(MILAN.read_text())
    return tmp_path


def test_compare_sapphire_rapids_to_haswell_and_emerald_rapids():
    text = cli_text("compare", SPR, HASWELL, EMR, "--qemu-version", "7.2", expect=1, cwd=dumps())
    assert_snapshot("compare-spr-haswell-emr", text)
    assert f"  {HASWELL}: incompatible: 53 instructions missing (AVX-512 family,\n      AMX, " in text
    assert text.count(" avx512f ") + text.count(" avx512f\n") == 1  # each feature once
    assert "(linux " not in text and "2147483" not in text
    assert f"cpucompat mask {SPR} \\\n          --target {HASWELL}" in text
    assert "or run it under EVC mode intel-haswell" in text and "QEMU model Haswell-v4" in text


def test_compare_names_vmware_and_json_keeps_every_vocabulary():
    text = cli_text("compare", SPR, HASWELL, "--names", "vmware", "--qemu-version", "7.2", expect=1, cwd=dumps())
    assert " AVX512F " in text and " avx512f " not in text
    document = json.loads(cli_text("compare", SPR, HASWELL, "--json", "--names", "vmware", "--qemu-version", "7.2",
                                   expect=1, cwd=dumps()))
    target, = document["targets"]
    adx = next(m for m in target["missing"] if m["name"] == "adx")
    assert adx == {"name": "adx", "linux": "adx", "qemu": "adx", "libvirt": "adx", "vmware": "ADX", "xen": "adx"}
    assert target["summary"].startswith("incompatible: 53 instructions missing (AVX-512 family, AMX")
    assert [s["action"] for s in target["next_steps"]] == ["mask", "evc", "qemu"]
    assert target["next_steps"][0]["command"] == f"cpucompat mask {SPR} --target {HASWELL}"


def test_compare_names_the_bios_setting(no_nx):
    text = cli_text("compare", "milan.txt", "host-17.json", "--qemu-version", "7.2", expect=1, cwd=no_nx)
    assert_snapshot("compare-bios-nx", text)
    assert "enable Execute Disable (XD / NX) in the BIOS on host-17.json: it alone removes nx" in text


def test_baseline_of_three_intel_servers():
    text = cli_text("baseline", SPR, CASCADE, ICX, "--qemu-version", "7.2", expect=0, cwd=dumps())
    assert_snapshot("baseline-spr-cascadelake-icx", text)
    assert text.startswith("3 hosts share 82 features: EVC mode intel-cascadelake")
    assert f"hosts (3):\n  {SPR}\n  {CASCADE}\n  {ICX}\n" in text
    assert "to reach EVC mode intel-icelake, fix or leave out this host" in text


def test_evc_check_next_mode_lost_to_microcode_and_bios(no_nx):
    text = cli_text("evc", "check", SKYLAKE_2017, expect=0, cwd=dumps())
    assert_snapshot("evc-check-skylake-2017", text)
    assert "not intel-westmere: lacks 4 security features (speculation controls)" in text
    assert "update the BIOS or the OS microcode (Intel's 2018 updates" in text
    text = cli_text("evc", "check", "host-17.json", "milan.txt", expect=0, cwd=no_nx)
    assert_snapshot("evc-check-bios-nx", text)
    assert "likely cause: BIOS finding nx-disabled hides nx" in text
    assert "enable Execute Disable (XD / NX) in the BIOS on host-17.json: it alone removes nx" in text


def test_evc_list_and_show():
    assert_snapshot("evc-list", cli_text("evc", "list", expect=0))
    text = cli_text("evc", "show", "intel-haswell", expect=0)
    assert_snapshot("evc-show-haswell", text)
    assert not any(line.endswith(" ") for line in text.splitlines())


def test_decode_of_a_fingerprint(no_nx):
    text = cli_text("decode", "host-17.json", expect=0, cwd=no_nx)
    assert_snapshot("decode-fingerprint", text)
    assert not re.search(r"[{}]|\['|\(\'", text)  # no Python reprs (dicts, lists, tuples)
    assert re.search(r"\n  max_extended_leaf +0x8000", text)


def test_decode_inferred_field_is_text_not_a_dict():
    text = cli_text("decode", SPR, expect=0, cwd=dumps())
    assert "inferred             syscall: Intel reports it only to 64-bit code" in text
    assert "{" not in text


def test_decode_per_cpu_text():
    """Alder Lake's P- and E-cores one line each; the per-CPU counts say what they count (the
    headline counts every feature, the lines those the vocabulary names)."""
    text = cli_text("decode", "GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", "--per-cpu", expect=0, cwd=dumps())
    assert "\nper CPU (counting the features with a linux name):\n  cpu 0: family 6 model 151 stepping 2, " in text
    assert ", core type Intel Atom (E-core)\n" in text and ", core type Intel Core (P-core)\n" in text
    assert not re.search(r"[{}\[\]]|\bNone\b|\bTrue\b|\bFalse\b", text)
    canonical = cli_text("decode", "GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt", "--per-cpu", "--names",
                         "canonical", expect=0, cwd=dumps())
    assert "\nper CPU:\n" in canonical


def test_mask_notes_what_it_hides():
    done = subprocess.run([sys.executable, "-m", "cpucompat", "mask", SPR, "--target", HASWELL], cwd=dumps(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "note: the mask hides 53 instructions (AVX-512 family, AMX, AVX-VNNI/IFMA, ...)" in done.stderr


def test_mask_command_quotes_paths():
    assert mask_command("my vm.json", targets=["$HOME/b.json"], fmt="libvirt") == \
        "cpucompat mask 'my vm.json' --target '$HOME/b.json' --format libvirt"
    assert mask_command("-", targets=["b.json"]) is None


# --- colour -----------------------------------------------------------------------------

def _run_in_terminal(*args: str, **env: str) -> str:
    """``cpucompat ARGS`` with stdout on a pseudo-terminal: what a user's terminal receives."""
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    process = subprocess.Popen([sys.executable, "-m", "cpucompat", *args], stdout=follower,
                               stderr=subprocess.DEVNULL, cwd=dumps(), env={**environment, "TERM": "xterm", **env})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal():
    args = ("compare", SPR, HASWELL, "--qemu-version", "7.2")
    piped = cli_text(*args, expect=1, cwd=dumps())
    assert ESCAPE not in piped
    terminal = _run_in_terminal(*args)
    assert COLOUR.search(terminal) and "incompatible" in terminal
    assert not COLOUR.search(_run_in_terminal(*args, NO_COLOR="1"))
    forced = subprocess.run([sys.executable, "-m", "cpucompat", *args], cwd=dumps(), capture_output=True,
                            text=True, env={**os.environ, "FORCE_COLOR": "1"}, timeout=120).stdout
    assert COLOUR.search(forced)  # piped into `less -R`
    dumb = subprocess.run([sys.executable, "-m", "cpucompat", *args], cwd=dumps(), capture_output=True,
                          text=True, env={**os.environ, "FORCE_COLOR": "1", "TERM": "dumb"}, timeout=120).stdout
    assert COLOUR.search(dumb)  # FORCE_COLOR wins over a dumb TERM (CI, chroots)
    assert forced.count("\n") == piped.count("\n")  # the same 100-column layout


# --- --help -----------------------------------------------------------------------------

def _commands(command, path: tuple[str, ...] = (), groups: bool = False):
    """Every leaf command of the app (and with ``groups`` every group), sub-apps' included, read at run time."""
    if hasattr(command, "commands"):
        if groups:
            yield path
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name), groups)
    else:
        yield path


def _help(path: tuple[str, ...]) -> str:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_help_has_an_example_and_no_type_placeholder():
    commands = list(_commands(typer.main.get_command(app)))
    assert ("compare",) in commands and ("evc", "check") in commands and ("fleet", "synth") in commands
    without_example = [" ".join(p) for p in commands if "Example" not in _help(p)]
    placeholders = {" ".join(p): found for p in _commands(typer.main.get_command(app), groups=True)
                    if (found := re.findall(r"<[a-z][a-z_\[\]|, ]*>|\{[a-z_]+\}", _help(p)))}
    assert not placeholders, placeholders
    assert not without_example, f"--help without an example: {without_example}"


def test_command_list_has_one_summary_per_command():
    """In ``cpucompat --help`` each command's summary wraps at the terminal, not at a line break
    of its docstring (a forced break left a half-empty line)."""
    groups = [p for p in _commands(typer.main.get_command(app), groups=True) if len(p) < 2]
    for path in groups:
        listed = _help(path).partition("─ Commands ")[2]
        rows = [line for line in listed.splitlines() if line.startswith("│")]
        texts = [line.strip("│ ") for line in rows]
        assert all(len(t) > 0 for t in texts)
        # a summary continues on the next row only when the row was full (wide terminal: 200 columns)
        for row, after in zip(rows, rows[1:]):
            if after.startswith("│" + " " * 6) and after.strip("│ "):
                assert len(row.rstrip("│ ")) > 150, (path, row)


# --- next steps in --json ---------------------------------------------------------------

def test_next_steps_in_json(no_nx):
    check = json.loads(cli_text("evc", "check", "--json", "host-17.json", "milan.txt", expect=0, cwd=no_nx))
    bios, = [s for s in check["next_steps"] if s["action"] == "bios"]
    assert bios["hosts"] == ["host-17.json"] and bios["features"] == ["nx"] and bios["command"] is None
    leave, = [s for s in check["next_steps"] if s["action"] == "leave-out"]
    assert leave["hosts"] == ["host-17.json"] and leave["baseline"] == "amd-rev-e"
    base = json.loads(cli_text("baseline", "--json", SPR, CASCADE, ICX, "--qemu-version", "7.2", expect=0, cwd=dumps()))
    assert [(s["action"], s["baseline"]) for s in base["next_steps"]][:3] == [
        ("evc", "intel-cascadelake"), ("qemu", "Cascadelake-Server-v5"), ("psabi", "x86-64-v4")]
    evc, qemu = [s for s in base["next_steps"] if s["action"] == "leave-out"]
    assert evc["hosts"] == [CASCADE] and evc["baseline"] == "intel-icelake" and "sha_ni" in evc["features"]
    assert qemu["hosts"] == [CASCADE] and qemu["baseline"] == "Icelake-Server-v6"  # not Cooperlake: ICX lacks bf16


def test_next_step_for_a_named_source_and_across_vendors():
    named = json.loads(cli_text("compare", "--json", "--evc", "intel-icelake", HASWELL, expect=1, cwd=dumps()))
    step, = named["targets"][0]["next_steps"]
    assert (step["action"], step["baseline"]) == ("evc", "intel-haswell")
    assert step["command"] == "cpucompat mask VM.json --evc intel-haswell --format vmx-evc"
    model = json.loads(cli_text("compare", "--json", "--qemu-model", "Icelake-Server-v4", HASWELL, "--qemu-version",
                                "7.2", expect=1, cwd=dumps()))
    step, = model["targets"][0]["next_steps"]
    assert step["command"] == "cpucompat mask VM.json --qemu-model Haswell-v4"
    milan = "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"
    across = json.loads(cli_text("compare", "--json", HASWELL, milan, expect=1, cwd=dumps()))
    assert [s["action"] for s in across["targets"][0]["next_steps"]] == ["cold-migrate"]


def _runs(command: str, cwd) -> None:
    """A printed ``cpucompat ...`` command runs as printed (exit 0)."""
    argv = shlex.split(command)
    assert argv[0] == "cpucompat"
    done = subprocess.run([sys.executable, "-m", "cpucompat", *argv[1:]], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0 and done.stdout, (command, done.stderr)


def test_cross_vendor_baseline_and_evc_check_print_a_mask_command():
    milan = "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt"
    base = json.loads(cli_text("baseline", "--json", "--cross-vendor", HASWELL, milan, expect=0, cwd=dumps()))
    psabi, = [s for s in base["next_steps"] if s["action"] == "psabi"]
    assert psabi["command"] == f"cpucompat mask {HASWELL} --qemu-model {psabi['baseline']}"
    _runs(psabi["command"], dumps())
    for hosts in ([SKYLAKE_2017], [SKYLAKE_2017, HASWELL]):
        check = json.loads(cli_text("evc", "check", "--json", *hosts, expect=0, cwd=dumps()))
        evc, = [s for s in check["next_steps"] if s["action"] == "evc"]
        assert evc["command"] == f"cpucompat mask {SKYLAKE_2017} --evc intel-nehalem --format vmx-evc"
    _runs(evc["command"], dumps())


def test_a_virtual_cpu_is_sent_to_its_physical_host():
    text = cli_text("evc", "check", "tcg_Haswell-v4_cpuid-r.txt", expect=0, cwd=TEST_DATA / "qemu")
    assert "tcg_Haswell-v4_cpuid-r.txt is a virtual CPU (QEMU TCG): EVC judges physical hosts" in text


def test_json_lists_do_not_depend_on_string_hashing():
    """Feature sets are Python sets; their JSON lists must not follow PYTHONHASHSEED."""
    dumps = [str(reference("dumps", "instlatx64", name)) for name in
             ("GenuineIntel00806F8_SapphireRapids_05_CPUID.txt", "GenuineIntel00306F2_HaswellEP_00_CPUID.txt")]
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        for args in (["baseline", "--json", *dumps], ["compare", "--json", *dumps]):
            done = subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True,
                                  env=env, timeout=120)
            assert done.returncode in (0, 1), done.stderr
            outputs.add((args[0], done.stdout))
    assert len(outputs) == 2, "the same inputs gave different JSON under different hash seeds"


def test_an_unreadable_input_is_one_error_line(tmp_path):
    """No note (the QEMU table) before the error: bad input is one line, exit 2."""
    done = subprocess.run([sys.executable, "-m", "cpucompat", "baseline", "missing.json", HASWELL, "--qemu-version", "7.2"],
                          capture_output=True, text=True, cwd=dumps())
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: missing.json: cannot read: No such file or directory\n"


def test_mask_text_is_pinned():
    """The mask itself (QEMU's -cpu with the comment naming what is hidden and which host lacks
    it) and a per-VM EVC featureMask: the text the admin pastes."""
    text = cli_text("mask", SPR, "--target", HASWELL, "--format", "qemu", "--qemu-version", "7.2", expect=0, cwd=dumps())
    text += cli_text("mask", SPR, "--evc", "intel-haswell", "--format", "vmx-evc", expect=0, cwd=dumps())
    assert_snapshot("mask-spr-haswell", text)
    assert f"# hide avx512f: lacking on {HASWELL}\n" in text and "featMask.vm.cpuid.AVX2 = " in text
